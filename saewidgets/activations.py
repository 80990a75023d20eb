"""Residual-stream activations for training and statistics: computed up to the hook layer, cached on disk.

The cache is a flat fp16 array ``[rows, d_model]`` (memory-mapped, reusable across runs). It is written
to ``acts.tmp`` with a progress file and renamed to ``acts.f16`` only when complete, so an interrupted
build resumes where it stopped and a half-written cache never looks finished.

Attention sinks: SmolLM2 (like most LMs) puts a massive activation on the first token of a sequence
(residual norm ~25,000 against ~180 elsewhere at layer 15). Such positions would dominate any SAE
loss, so we drop position 0 of every window and any position whose norm exceeds ``SINK_RATIO`` times
the median norm of its batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .hooks import HookPoint, run_to

SINK_RATIO = 10.0


def sink_mask(acts: torch.Tensor) -> torch.Tensor:
    """True where a position is an attention sink: the first token, or a norm far above the median."""
    norms = acts.float().norm(dim=-1)
    mask = torch.zeros_like(norms, dtype=torch.bool)
    mask[..., 0] = True
    if norms.shape[-1] > 1:
        mask |= norms > SINK_RATIO * norms[..., 1:].median()
    return mask


def stream_activations(model, point: HookPoint, windows: Iterable[torch.Tensor], batch_sequences: int = 16
                       ) -> Iterator[torch.Tensor]:
    """Yield ``[n, d_model]`` float32 activations (sinks removed) for batches of token windows."""
    device = next(model.parameters()).device
    batch: list[torch.Tensor] = []
    for window in windows:
        batch.append(torch.as_tensor(window))
        if len(batch) == batch_sequences:
            yield _run(model, point, batch, device)
            batch = []
    if batch:
        yield _run(model, point, batch, device)


def _run(model, point, batch, device):
    ids = torch.stack(batch).to(device)
    acts = run_to(model, point, ids)
    keep = ~sink_mask(acts)
    out = acts[keep].float()
    if not torch.isfinite(out).all():
        out = out[torch.isfinite(out).all(dim=-1)]
    return out


def _to_host(acts: torch.Tensor) -> np.ndarray:
    """``[n, d_model]`` activations as fp16 numpy; from a GPU through pinned (page-locked) memory, halved
    there first, so the copy to the cache moves 2 bytes a value at the full bus speed."""
    if acts.device.type == "cpu":
        return acts.numpy().astype(np.float16)
    staged = torch.empty(acts.shape, dtype=torch.float16, pin_memory=True)
    staged.copy_(acts.to(torch.float16), non_blocking=True)
    torch.cuda.current_stream(acts.device).synchronize()
    return staged.numpy()


def collect(model, point: HookPoint, windows: Iterable[torch.Tensor], n_tokens: int, path: str | Path | None = None,
            batch_sequences: int = 16, progress: bool = True) -> np.ndarray:
    """Activations for up to ``n_tokens`` positions as an fp16 array (memory-mapped when ``path`` is given)."""
    d_model = model.config.hidden_size
    if path is None:
        out = np.empty((n_tokens, d_model), dtype=np.float16)
        rows = _fill(out, 0, 0, model, point, windows, batch_sequences, progress, None)
        return out[:rows]
    path = Path(path)
    done = path / "acts.f16"
    meta_file = path / "meta.json"
    if done.exists() and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        return np.memmap(done, dtype=np.float16, mode="r", shape=(meta["rows"], meta["d_model"]))
    path.mkdir(parents=True, exist_ok=True)
    tmp, progress_file = path / "acts.tmp", path / "progress.json"
    start_rows = start_windows = 0
    if tmp.exists() and progress_file.exists():  # resume an interrupted build
        state = json.loads(progress_file.read_text())
        if state.get("n_tokens") == n_tokens and state.get("d_model") == d_model:
            start_rows, start_windows = state["rows"], state["windows"]
    try:
        out = np.memmap(tmp, dtype=np.float16, mode="r+" if start_rows else "w+", shape=(n_tokens, d_model))
        rows = _fill(out, start_rows, start_windows, model, point, windows, batch_sequences, progress,
                     lambda r, w: progress_file.write_text(json.dumps(
                         {"rows": r, "windows": w, "n_tokens": n_tokens, "d_model": d_model})))
        out.flush()
        del out
    except OSError as err:
        raise OSError(
            f"could not write the activation cache in {path} ({err.strerror or err}); free disk space "
            f"(it needs {n_tokens * d_model * 2 / 1e9:.1f} GB) or pass another cache folder. "
            "The partial cache was kept and the next run resumes it."
        ) from None
    os.replace(tmp, done)
    meta_file.write_text(json.dumps({"rows": rows, "d_model": d_model, "hook_name": point.name, "dtype": "float16"}))
    progress_file.unlink(missing_ok=True)
    return np.memmap(done, dtype=np.float16, mode="r", shape=(rows, d_model))


def _fill(out, rows, skip_windows, model, point, windows, batch_sequences, progress, checkpoint) -> int:
    n_tokens = len(out)
    bar = tqdm(total=n_tokens, initial=rows, unit="tok", desc="activations", disable=not progress)
    windows_seen = 0

    def remaining():
        nonlocal windows_seen
        for w in windows:
            windows_seen += 1
            if windows_seen > skip_windows:
                yield w

    for i, acts in enumerate(stream_activations(model, point, remaining(), batch_sequences)):
        take = min(len(acts), n_tokens - rows)
        out[rows:rows + take] = _to_host(acts[:take])
        rows += take
        bar.update(take)
        if checkpoint and i % 20 == 19:
            out.flush()
            checkpoint(rows, windows_seen)
        if rows >= n_tokens:
            break
    bar.close()
    return rows
