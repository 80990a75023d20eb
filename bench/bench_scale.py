"""One process against several (``torchrun``): the prepare pass and training, time and peak memory per rank.

    .venv/bin/python bench/bench_scale.py pass  --tokens 16384                       # 1 process
    .venv/bin/python -m torch.distributed.run --standalone --nproc-per-node 2 bench/bench_scale.py pass --tokens 16384
    .venv/bin/python bench/bench_scale.py train --steps 60
    .venv/bin/python -m torch.distributed.run --standalone --nproc-per-node 2 bench/bench_scale.py train --steps 60

``pass``: the default model (SmolLM2-135M, layer 15) and the shipped 16,384-latent SAE; the dashboard pass with
co-activation and context-word counts (what ``lab.prepare`` runs first) over ``--tokens`` tokens of the corpus,
merged across the ranks. ``train``: the Top-K trainer (16,384 latents, k 32, d_in 576, global batch 1024)
on random activations, ``--steps`` steps. Each rank prints one JSON line: wall seconds of the job (model
load excluded), peak resident memory, and the per-token cost. Used for docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saewidgets import distributed  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def the_pass(tokens: int) -> dict:
    import saewidgets as sw
    from saewidgets.analysis import explain
    from saewidgets.analysis.dashboard_pass import DashboardConfig, run_pass
    from saewidgets.analysis.prepare import counting_builder
    from saewidgets.corpus import available_texts, token_windows

    lab = sw.load(device="cpu")
    config = DashboardConfig()
    builder = counting_builder(lab, explain.vocabulary(explain.N_WORDS), config)
    windows = token_windows(lab.tokenizer, available_texts("train", verbose=False), seq_len=config.seq_len)
    loaded = peak_mb()
    distributed.barrier()
    started = time.perf_counter()
    arrays, meta = run_pass(lab.model, lab.hook, lab.sae, windows, tokens, config, progress=False, builder=builder)
    seconds = time.perf_counter() - started
    return {"job": "pass", "tokens": meta["tokens"], "seconds": round(seconds, 2),
            "tokens_per_s_all_ranks": round(meta["positions"] / seconds, 1), "state_mb": builder.nbytes() / 2**20,
            "peak_mb_after_load": round(loaded), "digest": float(arrays["top_value"].sum())}


def the_training(steps: int) -> dict:
    from saewidgets.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    acts = rng.standard_normal((65_536, 576), dtype=np.float32).astype(np.float16)
    cfg = TrainConfig(d_sae=16_384, k=32, tokens=1024 * steps, batch_size=1024, log_every=10, seed=0)
    loaded = peak_mb()
    distributed.barrier()
    started = time.perf_counter()
    _, history = fit(acts, cfg, "blocks.15.hook_resid_post", "random", progress=False)
    seconds = time.perf_counter() - started
    return {"job": "train", "steps": steps, "seconds": round(seconds, 2), "tokens_per_s": round(1024 * steps / seconds, 1),
            "peak_mb_after_load": round(loaded), "last_fvu": float(history.fvu.iloc[-1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("job", choices=["pass", "train"])
    ap.add_argument("--tokens", type=int, default=16_384)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    distributed.init()
    row = the_pass(args.tokens) if args.job == "pass" else the_training(args.steps)
    row.update(rank=distributed.rank(), world_size=distributed.world_size(), threads=torch.get_num_threads(),
               peak_mb=round(peak_mb()))
    print(json.dumps(row), flush=True)
    distributed.close()


if __name__ == "__main__":
    main()
