"""Loading any decoder family, hook points (capture / replace / stop-early), and clean removal."""

from __future__ import annotations

import pytest
import torch

import saewidgets as sw
from saewidgets.hooks import HookPoint, capture, decoder_layers, edit, run_to
from saewidgets.models import ModelLoadError

from conftest import N_LAYERS, no_hooks_left


def test_every_family_loads_and_hooks_match_hidden_states(family_model_dir):
    lab = sw.load(model=str(family_model_dir), sae=None, layer=1, device="cpu")
    assert lab.sae is None and lab.layer == 1 and lab.n_layers == N_LAYERS
    ids = torch.tensor([lab.tokenize("hello there, tiny model")])
    hidden = lab.model(input_ids=ids, output_hidden_states=True).hidden_states
    # hidden_states[i] is the input of block i; [i + 1] its output (before any final norm).
    for layer in range(N_LAYERS - 1):
        post = run_to(lab.model, HookPoint(layer, "resid_post"), ids)
        pre = run_to(lab.model, HookPoint(layer, "resid_pre"), ids)
        torch.testing.assert_close(post, hidden[layer + 1])
        torch.testing.assert_close(pre, hidden[layer])
    assert no_hooks_left(lab.model)


def test_stop_early_skips_later_blocks(tiny_model_dir):
    lab = sw.load(model=str(tiny_model_dir), sae=None, device="cpu")
    calls = []
    blocks = decoder_layers(lab.model)
    handles = [b.register_forward_hook(lambda *_a, i=i: calls.append(i)) for i, b in enumerate(blocks)]
    try:
        run_to(lab.model, HookPoint(1), torch.tensor([lab.tokenize("abc")]))
    finally:
        for h in handles:
            h.remove()
    assert calls == [0, 1]


def test_saelens_names_and_bad_hook_points():
    assert HookPoint.parse("blocks.15.hook_resid_post") == HookPoint(15, "resid_post")
    assert HookPoint.parse("blocks.3.hook_resid_pre").kind == "resid_pre"
    assert HookPoint.parse(7).name == "blocks.7.hook_resid_post"
    with pytest.raises(ValueError, match="out of range.*0..3"):
        HookPoint.parse(4, n_layers=4)
    with pytest.raises(ValueError, match="unknown hook point"):
        HookPoint.parse("blocks.1.hook_mlp_out")


def test_layer_out_of_range_is_a_clear_error(tiny_model_dir):
    with pytest.raises(ValueError, match="layer 9 is out of range"):
        sw.load(model=str(tiny_model_dir), sae=None, layer=9, device="cpu")


@pytest.mark.parametrize("interrupt", [RuntimeError("boom"), KeyboardInterrupt()])
def test_hooks_are_removed_after_an_exception(tiny_model_dir, interrupt):
    lab = sw.load(model=str(tiny_model_dir), sae=None, device="cpu")
    ids = torch.tensor([lab.tokenize("the same text")])
    before = lab.model(input_ids=ids).logits

    def explode(_hidden):
        raise interrupt

    with pytest.raises(type(interrupt)):
        with edit(lab.model, HookPoint(1), explode):
            lab.model(input_ids=ids)
    assert no_hooks_left(lab.model)
    torch.testing.assert_close(lab.model(input_ids=ids).logits, before, rtol=0, atol=0)


def test_edit_replaces_the_activation(tiny_model_dir):
    lab = sw.load(model=str(tiny_model_dir), sae=None, device="cpu")
    ids = torch.tensor([lab.tokenize("replace me")])
    with edit(lab.model, HookPoint(2), lambda h: torch.zeros_like(h)):
        with capture(lab.model, HookPoint(2)) as box:
            lab.model(input_ids=ids)
    # The capture hook was registered after the edit, so it sees the replaced value.
    assert torch.count_nonzero(box.value) == 0
    assert no_hooks_left(lab.model)


def test_offline_hub_id_gives_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="^offline: model 'nobody/not-a-cached-model'.*sw.load\\(\\)") as info:
        sw.load(model="nobody/not-a-cached-model")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_cuda_without_gpu_is_a_clear_error(tiny_model_dir):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        sw.load(model=str(tiny_model_dir), sae=None, device="cuda")


def test_dtype_option(tiny_model_dir):
    lab = sw.load(model=str(tiny_model_dir), sae=None, device="cpu", dtype="bfloat16")
    assert next(lab.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        sw.load(model=str(tiny_model_dir), sae=None, dtype="float8")
