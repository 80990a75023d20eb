"""The Top-K trainer (sparse backward, AuxK, unit-norm decoder), the activation cache, and evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import saewidgets as sw
from saewidgets import activations
from saewidgets.hooks import HookPoint
from saewidgets.sae import SAE
from saewidgets.train import TopKTrainer, TrainConfig, _TopKSelect, fit

from conftest import D_MODEL

TEXTS = [f"Document {i}: the quick brown fox {i % 7} jumps over {i * 13 % 101} lazy dogs." for i in range(300)]


def test_sparse_backward_matches_dense_autograd():
    torch.manual_seed(0)
    acts = torch.randn(16, 8)
    b_dec = torch.randn(8, requires_grad=True)
    W = torch.randn(8, 40, requires_grad=True)
    b = torch.randn(40, requires_grad=True)
    dead = torch.zeros(40, dtype=torch.bool)
    dead[30:] = True
    vals, idx = _TopKSelect.apply(acts, b_dec, W, b, 4, 3, dead, torch.float32)
    weights = torch.randn_like(vals)
    (vals * weights).sum().backward()
    ours = [t.grad.clone() for t in (b_dec, W, b)]
    for t in (b_dec, W, b):
        t.grad = None
    pre = (acts - b_dec) @ W + b
    torch.testing.assert_close(vals, pre.gather(1, idx).detach())
    (pre.gather(1, idx) * weights).sum().backward()
    for mine, ref in zip(ours, (b_dec.grad, W.grad, b.grad)):
        torch.testing.assert_close(mine, ref)
    assert (idx[:, 4:] >= 30).all()  # the AuxK picks come from dead latents only


def test_training_reduces_fvu_and_keeps_unit_decoder_rows():
    torch.manual_seed(0)
    basis = torch.randn(64, D_MODEL)
    codes = torch.relu(torch.randn(20_000, 64) - 1.5)
    acts = (codes @ basis).numpy().astype(np.float16)
    cfg = TrainConfig(d_sae=128, k=8, tokens=60_000, batch_size=512, log_every=5, select_dtype="float32")
    sae, history = fit(acts, cfg, "blocks.2.hook_resid_post", "synthetic", progress=False)
    assert isinstance(sae, SAE) and sae.cfg.k == 8 and sae.cfg.hook_name == "blocks.2.hook_resid_post"
    assert {"step", "tokens", "loss", "fvu", "l0", "dead_fraction"} <= set(history.columns)
    assert history.fvu.iloc[-1] < 0.5 * history.fvu.iloc[0]
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(128))
    assert sae.cfg.metadata["training_tokens"] == 117 * 512


def test_train_sae_end_to_end_on_a_tiny_model(tiny_lab, tmp_path):
    rows = []
    sae, history = sw.train_sae(tiny_lab, TEXTS, layer=2, d_sae=64, k=4, tokens=8192, batch_size=256,
                                activation_tokens=4096, callback=rows.append, log_file=tmp_path / "log.jsonl",
                                progress=False, log_every=4)
    assert sae.d_in == D_MODEL and sae.d_sae == 64 and len(history) == len(rows) > 0
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == len(rows)
    lab = sw.load(model=tiny_lab.model_name, sae=sae, device="cpu")
    assert lab.encode("fox").values.shape[1] == 64


def test_checkpoint_resume_gives_the_same_result(tmp_path):
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((4096, 16)).astype(np.float16)
    cfg = TrainConfig(d_sae=32, k=4, tokens=256 * 400, batch_size=256, select_dtype="float32")
    full, _ = fit(acts, cfg, "blocks.0.hook_resid_post", "m", progress=False)
    part_cfg = TrainConfig(**{**cfg.__dict__})
    # Train 200 steps with checkpoints, then "crash" and resume from the checkpoint folder.
    fit(acts, TrainConfig(**{**cfg.__dict__, "tokens": 256 * 200}), "blocks.0.hook_resid_post", "m",
        checkpoint_dir=tmp_path, progress=False)
    assert (tmp_path / "trainer.pt").exists()
    resumed, _ = fit(acts, part_cfg, "blocks.0.hook_resid_post", "m", checkpoint_dir=tmp_path, progress=False)
    # The lr schedule depends on the total, so compare the decoder loosely: same run, same data order.
    assert torch.nn.functional.cosine_similarity(full.W_dec, resumed.W_dec, dim=1).mean() > 0.9


def test_nan_batches_are_skipped_then_stop_with_a_clear_error():
    trainer = TopKTrainer(8, TrainConfig(d_sae=16, k=2, tokens=10_000, batch_size=64), torch.zeros(8))
    bad = torch.full((64, 8), float("nan"))
    assert trainer.step(bad) == {} and trainer.skipped_steps == 1
    for _ in range(9):
        trainer.step(bad)
    with pytest.raises(FloatingPointError, match="NaN/inf"):
        trainer.step(bad)


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_sae=64, k=0), "k must be between"),
    (dict(d_sae=64, k=64), "k must be between"),
    (dict(d_sae=8, k=2), "d_sae must be between"),
])
def test_bad_sizes_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(tokens=10_000, batch_size=64, **kwargs).check(D_MODEL)


def test_tiny_corpus_is_a_clear_error(tiny_lab):
    with pytest.raises(ValueError, match="at least|too short"):
        sw.train_sae(tiny_lab, ["too short"], layer=2, d_sae=64, k=4, tokens=4096, batch_size=1024, progress=False)


def test_activation_cache_is_complete_or_resumable(tiny_lab, tmp_path):
    from saewidgets.corpus import token_windows

    windows = list(token_windows(tiny_lab.tokenizer, TEXTS, seq_len=32))
    point = HookPoint(2)
    first = activations.collect(tiny_lab.model, point, iter(windows), 1000, path=tmp_path, progress=False)
    assert first.shape == (1000, D_MODEL) and (tmp_path / "acts.f16").exists()
    assert json.loads((tmp_path / "meta.json").read_text())["rows"] == 1000
    again = activations.collect(tiny_lab.model, point, iter([]), 1000, path=tmp_path, progress=False)
    np.testing.assert_array_equal(first, again)  # reused, not recomputed

    # An interrupted build (tmp file + progress) resumes and ends with the same rows.
    other = tmp_path / "resume"
    def interrupted():
        for i, w in enumerate(windows):
            if i == 20:
                raise KeyboardInterrupt
            yield w
    with pytest.raises(KeyboardInterrupt):
        activations.collect(tiny_lab.model, point, interrupted(), 1000, path=other, progress=False, batch_sequences=4)
    assert not (other / "acts.f16").exists() and (other / "acts.tmp").exists()
    resumed = activations.collect(tiny_lab.model, point, iter(windows), 1000, path=other, progress=False,
                                  batch_sequences=4)
    direct = activations.collect(tiny_lab.model, point, iter(windows), 1000, progress=False, batch_sequences=4)
    np.testing.assert_array_equal(np.asarray(resumed), direct)


def test_sink_positions_are_dropped():
    acts = torch.ones(2, 5, 4)
    acts[:, 0] *= 1000
    acts[1, 3] *= 500
    mask = activations.sink_mask(acts)
    assert mask[:, 0].all() and mask[1, 3] and mask.sum() == 3


def test_evaluate_on_a_perfect_sae(tiny_model_dir):
    # relu(x) - relu(-x) == x: an SAE that reconstructs exactly recovers all of the CE loss.
    eye = torch.eye(D_MODEL)
    sae = SAE.create(D_MODEL, 2 * D_MODEL, "relu", hook_name="blocks.1.hook_resid_post", apply_b_dec_to_input=False)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    lab = sw.load(model=str(tiny_model_dir), sae=sae, device="cpu")
    m = sw.evaluate(lab, TEXTS[:40], max_tokens=2000, seq_len=32, progress=False)
    assert {"l0", "fvu", "ce_loss_recovered", "kl_div", "dead_fraction", "dense_fraction"} <= set(m)
    assert m["fvu"] < 1e-6 and m["kl_div"] < 1e-6
    assert m["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-4)
    assert 0 < m["l0"] <= D_MODEL


def test_evaluate_on_a_random_sae_is_worse(tiny_lab):
    m = sw.evaluate(tiny_lab, TEXTS[:40], max_tokens=2000, seq_len=32, progress=False)
    assert m["fvu"] > 0.1 and m["ce_loss_recovered"] < 0.999 and m["l0"] <= 8
    assert "note" not in m and 0 <= m["dead_fraction"] <= 1  # 800 tokens ≥ 10 × 128 / 8: shares reported


def test_evaluate_on_too_short_a_text_says_so_instead_of_a_dead_share(tiny_lab):
    """Three words: each of 128 features is expected to fire 8/128 × a few times, so 'never fired' means nothing."""
    from saewidgets.evaluate import min_tokens_for_shares
    with pytest.warns(UserWarning, match="too few"):
        m = sw.evaluate(tiny_lab, ["a short text", "and another"], progress=False)
    assert m["tokens"] < m["min_tokens"] == min_tokens_for_shares(128, m["l0"]) == int(np.ceil(10 * 128 / m["l0"]))
    assert np.isnan(m["dead_fraction"]) and np.isnan(m["dense_fraction"])
    assert "dead_fraction" in m["note"] and f"{m['min_tokens']:,} tokens" in m["note"]
    assert np.isfinite(m["fvu"]) and np.isfinite(m["l0"])  # the other metrics stay


def test_disk_full_while_caching_is_a_clear_error(tiny_lab, tmp_path, monkeypatch):
    import errno

    from saewidgets.corpus import token_windows

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(activations.np, "memmap", full)
    windows = token_windows(tiny_lab.tokenizer, TEXTS, seq_len=32)
    with pytest.raises(OSError, match="No space left on device.*free disk space"):
        activations.collect(tiny_lab.model, HookPoint(2), windows, 1000, path=tmp_path, progress=False)
    assert not (tmp_path / "acts.f16").exists() and not (tmp_path / "meta.json").exists()


def test_resampling_revives_dead_latents_with_fresh_adam_moments():
    torch.manual_seed(0)
    x = torch.randn(8192, 16) * torch.linspace(0.2, 3, 16)  # unequal variances, so residuals have directions
    cfg = TrainConfig(d_sae=64, k=4, tokens=8192, batch_size=256, dead_tokens=512, resample_every=1024)
    trainer = TopKTrainer(16, cfg, x.mean(0))
    with torch.no_grad():
        trainer.b_enc[:10] = -1e3  # these ten can never be selected: dead
    for i in range(4):
        trainer.step(x[i * 256:(i + 1) * 256])
    assert (trainer.since_fired[:10] > cfg.dead_tokens).all()
    assert trainer.resample(x[:2048]) >= 10
    assert (trainer.b_enc[:10] == 0).all() and (trainer.since_fired[:10] == 0).all()
    assert (trainer.opt.state[trainer.W_enc]["exp_avg_sq"][:, :10] == 0).all()
    assert torch.allclose(trainer.W_dec[:10].norm(dim=1), torch.ones(10))
    fired = torch.zeros(64, dtype=torch.bool)
    for i in range(4, 12):
        trainer.step(x[i * 256:(i + 1) * 256])
        fired |= trainer.since_fired == 0
    assert fired[:10].sum() >= 4  # without resampling none can ever fire (b_enc -1e3)


def test_fit_resamples_on_schedule(tmp_path):
    acts = (torch.randn(4096, 16) * torch.linspace(0.2, 3, 16)).numpy()
    cfg = TrainConfig(d_sae=64, k=4, tokens=8192, batch_size=256, dead_tokens=512, resample_every=2048,
                      resample_until=0.6)
    log = tmp_path / "log.jsonl"
    fit(acts, cfg, "blocks.0.hook_resid_post", "tiny", log_file=log, progress=False)
    events = [json.loads(line) for line in log.read_text().splitlines() if "resampled" in line]
    assert [e["tokens"] for e in events] == [2048, 4096]  # every 2,048 tokens, none after 60% of 8,192


@pytest.mark.parametrize("relu", [False, True])
def test_auxk_moves_sunk_dead_latents_only_without_the_relu(relu):
    torch.manual_seed(0)
    x = torch.randn(2048, 16) * torch.linspace(0.2, 3, 16)
    cfg = TrainConfig(d_sae=64, k=4, tokens=8192, batch_size=256, dead_tokens=256, auxk_relu=relu)
    trainer = TopKTrainer(16, cfg, x.mean(0))
    with torch.no_grad():
        trainer.b_enc[:10] = -50.0  # sunk far below zero, like the default SAE's dead latents
    trainer.tokens_seen = 1024
    trainer.since_fired[:10] = 10_000  # dead for AuxK
    before = trainer.W_dec[:10].clone()
    for i in range(3):
        metrics = trainer.step(x[i * 256:(i + 1) * 256])
    moved = (trainer.W_dec[:10] - before).norm(dim=1)
    assert metrics["aux_loss"] > 0
    if relu:
        assert (moved < 1e-5).all()  # ReLU zeroes their AuxK output and so their gradient (renorm rounding aside)
    else:
        assert (moved > 1e-3).all()


def test_dead_fraction_is_not_reset_by_resampling():
    torch.manual_seed(0)
    x = torch.randn(2048, 16) * torch.linspace(0.2, 3, 16)
    cfg = TrainConfig(d_sae=64, k=4, tokens=8192, batch_size=256, dead_tokens=512)
    trainer = TopKTrainer(16, cfg, x.mean(0))
    with torch.no_grad():
        trainer.b_enc[:10] = -1e3
    for i in range(4):
        trainer.step(x[i * 256:(i + 1) * 256])
    assert trainer.dead_fraction(1024) >= 10 / 64
    trainer.resample(x)
    assert (trainer.since_fired[:10] == 0).all()       # AuxK's count restarts ...
    assert trainer.dead_fraction(1024) >= 10 / 64      # ... but the reported dead share still counts them
