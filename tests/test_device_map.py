"""A model spread over devices (``sw.load(..., device_map=...)``): the plumbing, checked on the CPU.

On a machine with one device the split is ``{module: "cpu"}``, so these tests check that an explicit
accelerate device map is accepted, that the SAE goes to its hook layer's device (found from accelerate's
execution device where it dispatched a module), and that encode, generation and steering give the same
results as the model loaded without a map.
"""

from __future__ import annotations

import types

import pytest
import torch

import saewidgets as sw
from saewidgets.hooks import HookPoint, decoder_layers, hook_device
from saewidgets.models import ModelLoadError, load_model

from conftest import N_LAYERS, random_sae

PROMPT = "The bridge over the river"


def split_map(n_layers: int = N_LAYERS) -> dict:
    """Every module of the tiny llama named in an explicit map (on a GPU machine: half the layers on each GPU)."""
    device = lambda i: "cpu" if not torch.cuda.is_available() else min(i * torch.cuda.device_count() // n_layers,
                                                                         torch.cuda.device_count() - 1)
    out = {"model.embed_tokens": device(0), "model.norm": device(n_layers - 1), "model.rotary_emb": device(0),
           "lm_head": device(n_layers - 1)}
    out.update({f"model.layers.{i}": device(i) for i in range(n_layers)})
    return out


@pytest.fixture(scope="module")
def labs(tiny_model_dir):
    plain = sw.load(model=str(tiny_model_dir), sae=random_sae(), device="cpu")
    mapped = sw.load(model=str(tiny_model_dir), sae=random_sae(), device_map=split_map())
    return plain, mapped


def test_an_explicit_device_map_is_accepted(labs):
    _, mapped = labs
    # (transformers records ``hf_device_map`` only when the map spans more than one device)
    assert mapped.sae.device == hook_device(mapped.model, mapped.hook)
    expected = split_map()[f"model.layers.{mapped.layer}"]
    assert mapped.sae.device == torch.device(expected if isinstance(expected, str) else f"cuda:{expected}")


def test_encode_generate_and_steer_match_the_unmapped_model(labs):
    plain, mapped = labs
    torch.testing.assert_close(mapped.encode(PROMPT).values, plain.encode(PROMPT).values)
    kw = dict(max_new_tokens=6, chat=False)
    assert mapped.generate(PROMPT, **kw) == plain.generate(PROMPT, **kw)
    steer = {3: 8.0}
    assert mapped.generate(PROMPT, steer=steer, **kw) == plain.generate(PROMPT, steer=steer, **kw)
    with mapped.steering({5: 4.0}, method="add"), plain.steering({5: 4.0}, method="add"):
        torch.testing.assert_close(mapped.encode(PROMPT).values, plain.encode(PROMPT).values)


def test_auto_device_map_loads(tiny_model_dir):
    lab = sw.load(model=str(tiny_model_dir), sae=random_sae(), device_map="auto")
    assert lab.sae.device == hook_device(lab.model, lab.hook)
    assert lab.encode(PROMPT).values.shape[1] == lab.sae.d_sae


def test_a_bad_device_map_is_one_clear_error(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="device_map"):
        load_model(str(tiny_model_dir), device_map="bogus")
    with pytest.raises(ModelLoadError, match="device_map"):
        load_model(str(tiny_model_dir), device_map={"": "nodevice"})


def test_hook_device_follows_accelerates_execution_device(tiny_lab):
    """Where accelerate runs a block elsewhere (its hook's execution_device), the SAE and hooks follow it."""
    model = tiny_lab.model
    block = decoder_layers(model)[2]
    block._hf_hook = types.SimpleNamespace(execution_device=torch.device("meta"))
    try:
        assert hook_device(model, HookPoint(2)) == torch.device("meta")             # output of block 2
        assert hook_device(model, HookPoint(3, "resid_pre")) == torch.device("meta")  # input of block 3
        assert hook_device(model, HookPoint(2, "resid_pre")) == torch.device("cpu")
        assert hook_device(model, HookPoint(0, "resid_pre")) == torch.device("cpu")   # the embeddings'
    finally:
        del block._hf_hook
