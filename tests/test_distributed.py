"""Several processes, one answer: the data-parallel pass and trainer under ``torch.distributed`` (gloo, CPU).

Two processes are spawned with ``torch.multiprocessing`` and joined by a file rendezvous; each runs the
same code as ``torchrun`` would. The dashboard pass of 2 processes must give the same arrays as 1 (examples,
quantile samples, histograms, counts, co-occurrence); 2 training processes must follow the one-process loss
curve. ``tests/test_cli.py`` runs the same through ``torchrun`` and the command line.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from saewidgets import distributed
from saewidgets.analysis.dashboard_pass import DashboardBuilder, DashboardConfig, ExampleStore, run_pass

SMALL = DashboardConfig(seq_len=32, batch_windows=4, top_width=12, sample_width=8, n_top=5, n_samples=6,
                        n_bins=16)
TEXTS = [f"Document {i}: the quick brown fox {i % 7} jumps over {i * 13 % 101} lazy dogs; "
         f"{'bridge ' * (i % 3)}and the river {i % 5} flows." for i in range(120)]
TOKENS = 3000


class one_thread:
    """The one-process reference on one core, as each of the two processes runs (fair, and faster on CI)."""

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def _join(rank: int, world: int, rendezvous: str) -> None:
    torch.set_num_threads(1)  # two processes on a small CI machine: one core each
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)


def _pass(model_dir: str, with_counts: bool):
    """The dashboard pass of a tiny model and a random SAE, as numpy arrays (every rank's merged state)."""
    import saewidgets as sw
    from conftest import random_sae
    from saewidgets.analysis.cooccurrence import Coactivation, ContextWords, token_words
    from saewidgets.corpus import token_windows

    torch.manual_seed(0)
    lab = sw.load(model=model_dir, sae=random_sae(d_sae=96, k=6, layer=2), device="cpu")
    builder = DashboardBuilder(lab.sae.d_sae, SMALL, "cpu")
    if with_counts:
        words = ["bridge", "river", "fox", "dogs", "quick", "lazy", "flows", "the"]
        builder.coactivation = Coactivation(lab.sae.d_sae, 8)
        builder.context = ContextWords(lab.sae.d_sae, token_words(lab.tokenizer, words), len(words), 4)
    windows = token_windows(lab.tokenizer, TEXTS, seq_len=SMALL.seq_len)
    arrays, meta = run_pass(lab.model, lab.hook, lab.sae, windows, TOKENS, SMALL, progress=False, builder=builder)
    if with_counts:
        arrays = {**arrays, "coact_pairs": builder.coactivation.pairs.numpy(),
                  "coact_fired": builder.coactivation.fired.numpy(),
                  "coact_segments": np.array(builder.coactivation.segments),
                  "context_pairs": builder.context.pairs.numpy(), "context_near": builder.context.word_near.numpy(),
                  "context_positions": np.array(builder.context.positions)}
    return arrays, {k: meta[k] for k in ("tokens", "positions", "windows")}


def _pass_worker(rank, world, rendezvous, model_dir, out):
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    _join(rank, world, rendezvous)
    try:
        arrays, meta = _pass(model_dir, True)
        np.savez(f"{out}.rank{rank}.npz", **arrays)
        torch.save(meta, f"{out}.rank{rank}.meta")
    finally:
        dist.destroy_process_group()


def _spawn(fn, world, *args):
    mp.start_processes(fn, args=(world, *args), nprocs=world, join=True, start_method="spawn")


@pytest.mark.skipif(not os.environ.get("SAEWIDGETS_SLOW_TESTS"), reason="17 s; SAEWIDGETS_SLOW_TESTS=1 runs it")
def test_two_processes_give_the_arrays_of_one(tiny_model_dir, tmp_path):
    """The raw state (co-occurrence counts included) of 2 processes equals 1's. Covered end to end, through
    torchrun and the files prepare writes, by tests/test_cli.py."""
    _spawn(_pass_worker, 2, str(tmp_path / "rdzv"), str(tiny_model_dir), str(tmp_path / "two"))
    with one_thread():
        one, meta = _pass(str(tiny_model_dir), True)
    assert meta["tokens"] > 2500 and one["frequency"].max() > 0
    assert (one["top_value"] > 0).sum() > 100 and (one["coact_pairs"] > 0).sum() > 100
    for rank in range(2):
        two = dict(np.load(tmp_path / f"two.rank{rank}.npz"))
        assert torch.load(tmp_path / f"two.rank{rank}.meta") == meta
        assert set(two) == set(one)
        for name, value in one.items():
            np.testing.assert_array_equal(two[name], value, err_msg=name)


def test_the_pass_state_is_shard_independent_without_processes():
    """Keyed by batch index and window, the state of batches taken in any order, by any number of builders,
    merges into the one-builder state (what ``merge_ranks`` does across processes)."""
    from test_dashboards import random_batches

    d_sae = 10
    batches = random_batches(n_batches=12, d_sae=d_sae, seed=7)
    whole = DashboardBuilder(d_sae, SMALL)
    for i, (batch, sink) in enumerate(batches):
        whole.update(batch, sink)
    parts = [DashboardBuilder(d_sae, SMALL) for _ in range(3)]
    for i, (batch, sink) in reversed(list(enumerate(batches))):
        parts[i % 3].update(batch, sink, batch_index=i, first_window=4 * i)
    for name in ("top", "sample"):
        store = getattr(parts[0], name)
        store.merge([getattr(p, name) for p in parts[1:]])
        for field in ExampleStore._STATE:
            torch.testing.assert_close(getattr(store, field), getattr(getattr(whole, name), field), rtol=0, atol=0)
    assert sum(p.fired for p in parts).tolist() == whole.fired.tolist()


def test_ties_rank_the_earlier_window_first():
    store = ExampleStore(1, 2, 1)
    for w, value in ((3, 1.0), (1, 1.0), (2, 1.0)):
        other = ExampleStore(1, 2, 1)
        other.score[0, 0], other.value[0, 0], other.window[0, 0] = value, value, w
        store.merge([other])
    assert store.window[0].tolist() == [1, 2]


# ---- training


def _curve(acts: np.ndarray, steps: int):
    from saewidgets.train import TrainConfig, fit

    cfg = TrainConfig(d_sae=64, k=4, tokens=256 * steps, batch_size=256, log_every=1, select_dtype="float32",
                      dead_tokens=256 * 20, seed=0)
    sae, history = fit(acts, cfg, "blocks.0.hook_resid_post", "synthetic", progress=False)
    return sae.W_dec.detach().numpy(), history


def _train_worker(rank, world, rendezvous, acts_path, out, steps):
    _join(rank, world, rendezvous)
    try:
        W, history = _curve(np.load(acts_path), steps)
        np.save(f"{out}.rank{rank}.npy", W)
        history.to_csv(f"{out}.rank{rank}.csv", index=False)
    finally:
        dist.destroy_process_group()


def test_two_training_processes_follow_the_one_process_curve(tmp_path):
    import pandas as pd

    torch.manual_seed(0)
    basis = torch.randn(48, 16)
    codes = torch.relu(torch.randn(6000, 48) - 1.5)
    acts = (codes @ basis).numpy().astype(np.float16)
    np.save(tmp_path / "acts.npy", acts)
    steps = 200
    _spawn(_train_worker, 2, str(tmp_path / "rdzv"), str(tmp_path / "acts.npy"), str(tmp_path / "two"), steps)
    with one_thread():
        W1, one = _curve(acts, steps)
    assert len(one) == steps and one.fvu.iloc[-1] < 0.5 * one.fvu.iloc[0]
    assert one.aux_loss.gt(0).any()  # AuxK was on (dead latents all-reduced) for part of the run
    for rank in range(2):
        two = pd.read_csv(tmp_path / f"two.rank{rank}.csv")
        assert len(two) == len(one) and two.tokens.tolist() == one.tokens.tolist()
        np.testing.assert_allclose(two.loss, one.loss, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(two.l0, one.l0, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(two.dead_fraction, one.dead_fraction, atol=2 / 64)
        np.testing.assert_allclose(np.load(tmp_path / f"two.rank{rank}.npy"), W1, atol=1e-3)


def test_without_torchrun_every_helper_is_a_no_op():
    t = torch.arange(4.0)
    assert not distributed.active() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.all_reduce_(t) is t and distributed.all_gather(t)[0] is t
    assert distributed.all_reduce_number(3) == 3 and distributed.is_main()
    assert distributed.init() is False
    assert math.isfinite(distributed.TIMEOUT_MINUTES)
