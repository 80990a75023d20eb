"""The public Lab API on a tiny random model: encode, generate, steering, and bad input."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

import saewidgets as sw
from saewidgets.sae import SAE

from conftest import D_MODEL, no_hooks_left, random_sae


def test_encode_gives_per_token_features(tiny_lab):
    fa = tiny_lab.encode("Hi there\nfriend")
    assert fa.tokens[0] == "<|im_start|>" and fa.sink[0] and not fa.sink[1:].any()
    assert len(fa) == len(fa.token_ids) == fa.values.shape[0] == 1 + len("Hi there\nfriend".encode())
    assert "·" in fa.tokens and "↵" in fa.tokens  # whitespace visible
    assert fa.values.shape[1] == tiny_lab.sae.d_sae
    assert torch.all(fa.values[0] == 0)  # the attention sink is left out
    assert ((fa.values[1:] > 0).sum(1) <= tiny_lab.sae.cfg.k).all()


def test_top_is_a_dataframe_of_the_strongest_features(tiny_lab):
    fa = tiny_lab.encode("abc")
    top = fa.top(k=3)
    assert isinstance(top, pd.DataFrame)
    assert list(top.columns) == ["token", "position", "feature", "activation"]
    assert set(top.position) <= {1, 2, 3} and (top.groupby("position").size() <= 3).all()
    first = top[top.position == 1].activation.tolist()
    assert first == sorted(first, reverse=True)
    assert top.activation.max() == pytest.approx(fa.values.max().item())
    with pytest.raises(ValueError, match="k must be at least 1"):
        fa.top(k=0)


def test_feature_index_out_of_range(tiny_lab):
    fa = tiny_lab.encode("abc")
    assert len(fa.feature(5)) == len(fa)
    with pytest.raises(IndexError, match="out of range.*0..127"):
        fa.feature(128)


def test_empty_prompt_and_overlong_prompt(tiny_lab):
    with pytest.raises(ValueError, match="empty prompt"):
        tiny_lab.encode("   ")
    with pytest.warns(UserWarning, match="only the first 256 are used"):
        fa = tiny_lab.encode("x" * 400)
    assert len(fa) == 256
    assert tiny_lab.encode("still works").values.shape[1] == 128  # the kernel keeps working


def test_sae_width_mismatch_names_both_widths(tiny_model_dir):
    with pytest.raises(ValueError, match=str(D_MODEL)) as info:
        sw.load(model=str(tiny_model_dir), sae=random_sae(d_in=48), device="cpu")
    assert "48" in str(info.value)


def test_layer_must_match_the_sae(tiny_model_dir):
    with pytest.raises(ValueError, match="does not match the SAE's hook point"):
        sw.load(model=str(tiny_model_dir), sae=random_sae(layer=2), layer=1, device="cpu")
    lab = sw.load(model=str(tiny_model_dir), sae=random_sae(layer=1), device="cpu")
    assert lab.layer == 1


def test_sae_from_a_saved_folder(tiny_model_dir, tmp_path):
    random_sae().save(tmp_path / "sae")
    lab = sw.load(model=str(tiny_model_dir), sae=str(tmp_path / "sae"), device="cpu")
    assert isinstance(lab.sae, SAE) and lab.layer == 2 and lab.sae.stats is not None


def test_generate_is_greedy_and_deterministic(tiny_lab):
    a = tiny_lab.generate("hello", max_new_tokens=8)
    b = tiny_lab.generate("hello", max_new_tokens=8)
    assert isinstance(a, str) and a == b
    sampled = [tiny_lab.generate("hello", max_new_tokens=8, temperature=1.0, seed=s) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]


def test_steering_changes_generation_and_leaves_no_hook(tiny_lab):
    plain = tiny_lab.generate("hello", max_new_tokens=12, chat=False)
    steered = tiny_lab.generate("hello", steer={3: 50.0}, max_new_tokens=12, chat=False)
    assert steered != plain
    assert no_hooks_left(tiny_lab.model)
    assert tiny_lab.generate("hello", max_new_tokens=12, chat=False) == plain


def test_clamp_sets_the_feature_and_keeps_the_error_term(tiny_lab):
    from saewidgets.steering import intervention

    x = torch.randn(1, 6, D_MODEL) * 3
    sae = tiny_lab.sae
    out = intervention(sae, {7: 1.5}, "clamp")(x)
    torch.testing.assert_close(out[:, 0], x[:, 0])  # never the attention sink
    z = sae.encode(x)
    clamped = z.clone()
    clamped[..., 7] = 1.5 * sae.stats["max_activation"][7]
    # x' = decode(z') + error, with error = x - decode(z) unchanged.
    expected = sae.decode(clamped) + (x - sae.decode(z))
    torch.testing.assert_close(out[:, 1:], expected[:, 1:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["clamp", "add", "ablate", "amplify", "calibrate"])
def test_every_method_runs_inside_the_context(tiny_lab, method):
    with tiny_lab.steering({1: 2.0, 2: 1.0}, method=method):
        text = tiny_lab.generate("hello", max_new_tokens=4)
    assert isinstance(text, str) and no_hooks_left(tiny_lab.model)


@pytest.mark.parametrize("steer, method, error, match", [
    ({1: math.nan}, "clamp", ValueError, "out of range"),
    ({1: math.inf}, "clamp", ValueError, "out of range"),
    ({1: 1e6}, "clamp", ValueError, "between -1000 and 1000"),
    ({1: 2.0}, "boost", ValueError, "unknown steering method"),
    ({999: 2.0}, "clamp", IndexError, "feature 999 is out of range"),
])
def test_bad_steering_is_rejected_and_the_model_is_unchanged(tiny_lab, steer, method, error, match):
    with pytest.raises(error, match=match):
        tiny_lab.generate("hello", steer=steer, method=method, max_new_tokens=2)
    assert no_hooks_left(tiny_lab.model)


def test_interrupted_steered_generation_leaves_a_fresh_model(tiny_lab):
    ids = torch.tensor([tiny_lab.tokenize("hello")])
    before = tiny_lab.model(input_ids=ids).logits
    with pytest.raises(KeyboardInterrupt):
        with tiny_lab.steering({4: 5.0}):
            raise KeyboardInterrupt
    assert no_hooks_left(tiny_lab.model)
    torch.testing.assert_close(tiny_lab.model(input_ids=ids).logits, before, rtol=0, atol=0)


def test_steering_vector_is_the_scaled_sum_of_unit_rows(tiny_lab):
    v = tiny_lab.steering_vector({1: 2.0, 5: -1.0})
    W = tiny_lab.sae.W_dec.detach()
    expected = 2.0 * 2.0 * W[1] / W[1].norm() - 1.0 * 2.0 * W[5] / W[5].norm()
    torch.testing.assert_close(v, expected)


def test_lab_without_sae_explains_what_to_do(tiny_model_dir):
    lab = sw.load(model=str(tiny_model_dir), sae=None, device="cpu")
    with pytest.raises(ValueError, match="no SAE.*sw.train_sae"):
        lab.encode("hi")
    assert "no SAE" in repr(lab)


def test_with_sae_shares_the_model(tiny_lab):
    other = tiny_lab.with_sae(random_sae(d_sae=64, layer=1, seed=3))
    assert other.model is tiny_lab.model and other.sae.d_sae == 64 and other.layer == 1
    with pytest.raises(ValueError, match="48"):
        tiny_lab.with_sae(random_sae(d_in=48))


def test_sae_release_id_offline_is_one_clear_error(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(sw.SAELoadError, match="^offline:") as info:
        sw.load(model=str(tiny_model_dir), sae="someone/some-sae-repo", sae_id="layer_2", device="cpu")
    assert info.value.__cause__ is None


def test_steering_a_dead_feature_uses_a_typical_unit(tiny_lab):
    from saewidgets.steering import max_activations

    tiny_lab.sae.stats["max_activation"][9] = 0.0
    with pytest.warns(UserWarning, match=r"\[9\] never fired"):
        unit = max_activations(tiny_lab.sae, [9, 10])
    assert unit.tolist() == [2.0, 2.0]
