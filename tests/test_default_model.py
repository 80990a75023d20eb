"""Integration: the real embedded default (SmolLM2-135M-Instruct + the shipped SAE), offline."""

from __future__ import annotations

import json

import pytest
import torch

import saewidgets as sw
from saewidgets import models
from saewidgets.lab import DEFAULT_SAE_DIR

from conftest import no_hooks_left

pytestmark = pytest.mark.integration


def test_default_lab_is_smollm2_with_the_shipped_sae(default_lab):
    lab = default_lab
    assert lab.model_name == "SmolLM2-135M-Instruct"
    assert lab.model.config.num_hidden_layers == 30 and lab.model.config.hidden_size == 576
    assert lab.layer == 15 and lab.hook.name == "blocks.15.hook_resid_post"
    assert lab.sae.cfg.architecture == "topk" and lab.sae.cfg.k == 32 and lab.sae.d_sae >= 4096
    assert set(lab.sae.stats) >= {"max_activation", "frequency", "mean_activation"}
    # 90% of latents fired in the 1M statistics tokens (docs/default-sae.md has the dead-latent figures).
    assert (lab.sae.stats["max_activation"] > 0).float().mean() > 0.8
    cfg = json.loads((DEFAULT_SAE_DIR / "cfg.json").read_text())
    assert cfg["dtype"] == "float16" and cfg["metadata"]["hook_name"] == "blocks.15.hook_resid_post"


def test_the_tokenizer_is_smollm2s(default_lab):
    tok = default_lab.tokenizer
    assert len(tok) == 49152 and tok.eos_token == "<|im_end|>" and tok.bos_token == "<|im_start|>"
    text = "Hello world!\n  def f(x): return 42  # ünïcødé"
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text
    assert tok.convert_ids_to_tokens(tok("Hello world").input_ids) == ["Hello", "Ġworld"]


def test_chat_generation_answers(default_lab):
    reply = default_lab.generate("What is the capital of France?", max_new_tokens=20)
    assert "Paris" in reply


def test_encode_finds_sparse_features(default_lab):
    fa = default_lab.encode("The Golden Gate Bridge is in San Francisco.")
    assert fa.tokens[0] == "<|im_start|>" and fa.sink[0]
    active = (fa.values[1:] > 0).sum(1)
    assert (active <= 32).all() and active.float().mean() > 20
    top = fa.top(k=3)
    assert len(top) == 3 * (len(fa) - 1)


def test_steering_changes_text_and_leaves_the_model_as_it_was(default_lab):
    lab = default_lab
    prompt = "Describe your favourite food."
    plain = lab.generate(prompt, max_new_tokens=24)
    feature = int(lab.encode("the ocean, the sea and its waves").top(k=1).feature.mode()[0])
    steered = lab.generate(prompt, steer={feature: 8.0}, max_new_tokens=24)
    assert steered != plain
    with pytest.raises(KeyboardInterrupt):
        with lab.steering({feature: 8.0}):
            raise KeyboardInterrupt
    assert no_hooks_left(lab.model)
    assert lab.generate(prompt, max_new_tokens=24) == plain


def test_the_shipped_sae_reconstructs_held_out_text(default_lab):
    from saewidgets.corpus import load_texts

    metrics = sw.evaluate(default_lab, load_texts("heldout"), max_tokens=4096, progress=False)
    # Loose bounds: the full held-out figures are in docs/default-sae.md.
    assert metrics["fvu"] < 0.2 and metrics["ce_loss_recovered"] > 0.9 and metrics["l0"] <= 32


def test_cached_model_is_reused_without_conversion(monkeypatch):
    models.default_model_dir()
    monkeypatch.setattr(models, "_convert_default_gguf", lambda *a: pytest.fail("converted again"))
    assert (models.default_model_dir() / "model.safetensors").exists()


def test_an_interrupted_conversion_leaves_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAEWIDGETS_CACHE", str(tmp_path))
    from transformers import PreTrainedTokenizerFast

    def crash(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(PreTrainedTokenizerFast, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        models.default_model_dir()
    folder = tmp_path / "models"
    leftovers = [p for p in folder.iterdir() if any(p.iterdir())] if folder.exists() else []
    assert not leftovers  # the target is empty and no temporary folder remains


def test_missing_sae_files_and_width_mismatch_with_the_real_model(default_lab, tmp_path):
    with pytest.raises(sw.SAELoadError):
        default_lab.with_sae(str(tmp_path))
    small = sw.SAE.create(64, 256, "topk", k=8, hook_name="blocks.15.hook_resid_post")
    with pytest.raises(ValueError, match="576") as info:
        default_lab.with_sae(small)
    assert "64" in str(info.value)
    assert default_lab.encode("still fine").values.shape[1] == default_lab.sae.d_sae
