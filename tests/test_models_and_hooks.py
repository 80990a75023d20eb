"""Loading any decoder family, hook points (capture / replace / stop-early), and clean removal."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub.errors import RepositoryNotFoundError

import saewidgets as sw
from saewidgets.hooks import HookPoint, capture, decoder_layers, edit, run_to
from saewidgets.models import ModelLoadError, load_model
from saewidgets.offline import OFFLINE_VARIABLES, hub_failure_message, offline, offline_message, offline_variable

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


@pytest.fixture
def downloads_on(monkeypatch):
    """No offline variable set; each test replaces snapshot_download, so nothing goes out."""
    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on"])
@pytest.mark.parametrize("name", OFFLINE_VARIABLES)
def test_offline_variables_read_like_huggingface_hub(downloads_on, monkeypatch, name, value):
    assert not offline()
    monkeypatch.setenv(name, value)
    assert offline() and offline_variable() == name


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2", "auto"])
def test_offline_false_values(downloads_on, monkeypatch, value):
    for name in OFFLINE_VARIABLES:
        monkeypatch.setenv(name, value)
    assert not offline() and offline_variable() is None


def test_offline_message_names_the_thing_the_variable_and_the_fix(downloads_on, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "yes")
    msg = offline_message("dataset 'some/texts'", "pass a list of strings")
    assert msg == ("offline: dataset 'some/texts' is not on this machine and downloads are off "
                   "(HF_DATASETS_OFFLINE=yes): pass a list of strings; or unset HF_DATASETS_OFFLINE "
                   "on a machine with a network")
    # A failure while downloads are off is reported as such, whatever the Hub library raised.
    assert hub_failure_message("dataset 'some/texts'", "fix", OSError("cache miss")) == \
        offline_message("dataset 'some/texts'", "fix")


class _RepoNotFound(RepositoryNotFoundError):
    def __init__(self):  # the real one wants an HTTP response
        Exception.__init__(self, "404 Repository Not Found")


class DatasetNotFoundError(FileNotFoundError):
    """Named like datasets' error, which offline.py recognises without importing datasets."""


def test_hub_failure_message_tells_unreachable_from_not_found(downloads_on):
    msg = hub_failure_message("SAE a/b", "pass a folder", ConnectionError("Max retries"))
    assert msg == ("offline: SAE a/b is not on this machine and the Hugging Face Hub could not be "
                   "reached (ConnectionError): pass a folder; or try again with a network")
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = _RepoNotFound()
    for err in (_RepoNotFound(), wrapped, DatasetNotFoundError("x")):
        msg = hub_failure_message("dataset 'a/b'", "pass a folder", err)
        assert msg.startswith("dataset 'a/b' was not found on the Hugging Face Hub"), msg
        assert "private or gated" in msg and msg.endswith(": pass a folder")


@pytest.mark.parametrize("name, value", [("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "true")])
def test_offline_hub_id_gives_one_clear_error(downloads_on, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ModelLoadError, match="^offline: model 'nobody/not-a-cached-model'.*sw.load\\(\\)") as info:
        sw.load(model="nobody/not-a-cached-model")
    assert f"({name}={value})" in str(info.value) and f"unset {name}" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ModelLoadError, match="^offline: model 'some/repo' is not on this machine"):
        load_model("some/repo", device="cpu")


def test_hub_failures_of_a_model_are_clear(downloads_on, monkeypatch):
    import huggingface_hub

    def no_network(repo_id, **kwargs):
        assert kwargs["local_files_only"] is False  # downloads are on
        raise ConnectionError("Max retries exceeded with url")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(ModelLoadError, match="^offline: model 'some/repo'.*could not be reached") as info:
        load_model("some/repo", device="cpu")
    assert info.value.__cause__ is None and info.value.__suppress_context__

    def missing(repo_id, **kwargs):
        raise _RepoNotFound()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    with pytest.raises(ModelLoadError, match="^model 'some/repo' was not found on the Hugging Face Hub.*sw.load"):
        load_model("some/repo", device="cpu")


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
