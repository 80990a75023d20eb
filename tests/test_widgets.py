"""Widgets, Python side, without a browser: codecs, the heatmap's traitlets, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

from saewidgets.lab import Lab
from saewidgets.widgets import FeatureIndexError, Heatmap, bundle, codecs, heatmap
from saewidgets.widgets.heatmap import SINK, SPECIAL, encode_prompt

from conftest import random_sae

TEXT = "Hi <b>there</b>\nfriend"


# ---- codecs


@pytest.mark.parametrize("dtype", sorted(codecs.DTYPES))
def test_codec_round_trip(dtype):
    array = np.arange(12).reshape(3, 4) % 7
    payload = codecs.encode(array, dtype)
    assert payload["dtype"] == dtype and payload["shape"] == [3, 4]
    assert isinstance(payload["data"], bytes) and len(payload["data"]) == 12 * np.dtype(codecs.DTYPES[dtype]).itemsize
    np.testing.assert_array_equal(codecs.decode(payload), array)


def test_codec_takes_tensors_little_endian_and_clips_float16():
    payload = codecs.encode(torch.tensor([1.5, -2.0, 1e6]), "float16")
    assert payload["data"][:2] == np.float16(1.5).tobytes() == b"\x00\x3e"
    np.testing.assert_array_equal(codecs.decode(payload), [1.5, -2.0, 65504.0])  # never inf
    assert codecs.decode(codecs.encode(torch.tensor([[7, -1]]), "int32")).tolist() == [[7, -1]]
    with pytest.raises(ValueError, match="unknown dtype"):
        codecs.encode([1], "float64")


def test_nbytes_counts_nested_buffers():
    assert codecs.nbytes({"a": [codecs.encode(np.zeros(3), "float32"), {"b": b"xy"}], "c": "text"}) == 14


def test_missing_bundle_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.setattr(bundle, "STATIC", tmp_path)
    with pytest.raises(FileNotFoundError, match="npm ci && npm run build"):
        bundle.esm("heatmap")


# ---- the heatmap's data


def test_heatmap_sends_tokens_flags_and_top_features(tiny_lab):
    fa = tiny_lab.encode(TEXT)
    w = heatmap(tiny_lab, TEXT, k=4)
    assert isinstance(w, Heatmap) and "render" in w._esm
    assert w.d_sae == tiny_lab.sae.d_sae and w.feature is None and w.error == ""
    (p,) = w.prompts
    assert p["tokens"] == fa.pieces and "".join(p["tokens"][1:]) == TEXT and p["notice"] == ""
    flags = codecs.decode(p["flags"])
    assert flags[0] == SINK | SPECIAL and not flags[1:].any()  # <|im_start|> is both
    ids, values = codecs.decode(p["top_ids"]), codecs.decode(p["top_values"])
    assert ids.shape == values.shape == (len(fa), 4)
    assert (ids[0] == -1).all() and (values[0] == 0).all()  # nothing fires on the sink
    expected = fa.values[1:].topk(4, dim=1)
    np.testing.assert_array_equal(ids[1:], expected.indices.numpy())
    np.testing.assert_allclose(values[1:], expected.values.numpy(), rtol=1e-3)
    # colour scale: the SAE's max activations for exactly the features listed
    assert w.scale["source"] == "stats"
    np.testing.assert_array_equal(codecs.decode(w.scale["ids"]), np.unique(ids[ids >= 0]))
    np.testing.assert_allclose(codecs.decode(w.scale["values"]), 2.0)
    assert w.feature_values == {"feature": None, "columns": []}


def test_heatmap_sends_the_density_of_the_features_shown(tiny_lab):
    """The view ranks dense features (firing on > 10% of tokens) after the rest: it needs each one's density."""
    freq = torch.linspace(0, 0.5, tiny_lab.sae.d_sae)
    w = Heatmap([encode_prompt(tiny_lab, TEXT)], tiny_lab.sae.d_sae, max_activation=torch.full_like(freq, 2.0),
                frequency=freq)
    ids = codecs.decode(w.scale["ids"])
    np.testing.assert_allclose(codecs.decode(w.scale["density"]), freq.numpy()[ids], rtol=1e-6)
    w.feature = int(ids[0])
    assert len(codecs.decode(w.scale["density"])) == len(codecs.decode(w.scale["ids"]))
    assert "density" in heatmap(tiny_lab, TEXT).scale  # lab.heatmap passes the SAE's frequency statistics


def test_state_travels_as_binary_buffers(tiny_lab):
    w = heatmap(tiny_lab, TEXT, k=8)
    state, _, buffers = _remove_buffers(w.get_state())
    json.dumps(state)  # everything else is plain JSON
    assert len(buffers) >= 3
    tokens = len(w.prompts[0]["tokens"])
    assert codecs.nbytes(w.prompts) == tokens * (8 * 4 + 8 * 2 + 1)  # int32 ids, float16 values, flags


def test_feature_set_in_python_sends_its_column(tiny_lab):
    fa = tiny_lab.encode(TEXT)
    f = int(fa.values[1:].sum(0).argmax())
    w = heatmap(tiny_lab, [TEXT, "more"], explanations={f: "a feature", 3: "three"})
    w.feature = f
    assert w.feature_values["feature"] == f
    first, second = (codecs.decode(c) for c in w.feature_values["columns"])
    np.testing.assert_allclose(first, fa.values[:, f].numpy(), rtol=1e-3)
    assert second.shape == (len(w.prompts[1]["tokens"]),)
    assert f in codecs.decode(w.scale["ids"]).tolist()
    assert w.explanations[str(f)] == "a feature"
    assert set(w.explanations) <= {str(i) for i in codecs.decode(w.scale["ids"]).tolist()}
    w.feature = None
    assert w.feature_values["columns"] == []


def test_feature_argument_and_explanations(tiny_lab):
    w = heatmap(tiny_lab, TEXT, feature=5, explanations={5: "five"})
    assert w.feature == 5 and w.feature_values["feature"] == 5 and w.explanations["5"] == "five"


def test_out_of_range_feature_raises_in_python_and_shows_in_the_view(tiny_lab):
    w = heatmap(tiny_lab, TEXT, feature=3)
    with pytest.raises(IndexError, match="out of range: this SAE has features 0..127"):
        w.feature = 128
    assert w.feature == 3 and "out of range" in w.error
    with pytest.raises(traitlets.TraitError):
        w.feature = -1
    w.feature = 4
    assert w.error == ""  # a good feature clears the message
    with pytest.raises(FeatureIndexError):
        heatmap(tiny_lab, TEXT, feature=10_000)
    with pytest.raises(TypeError, match="integer"):
        heatmap(tiny_lab, TEXT, feature="7")


def test_feature_from_the_browser(tiny_lab):
    w = heatmap(tiny_lab, TEXT)
    w.set_state({"feature": 7})  # what a click in the view sends
    assert w.feature == 7 and w.feature_values["feature"] == 7
    w.set_state({"feature": 5000})  # out of range: no exception in the kernel, an error in the view
    assert w.feature == 7 and "5000 is out of range" in w.error


def test_without_statistics_colours_scale_to_the_text(tiny_model_dir):
    import saewidgets as sw

    lab = sw.load(model=str(tiny_model_dir), sae=random_sae(with_stats=False), device="cpu")
    texts = [TEXT, "another text"]
    w = heatmap(lab, texts)
    assert w.scale["source"] == "text"
    ids = codecs.decode(w.scale["ids"])
    seen = torch.stack([lab.encode(s).values.amax(0) for s in texts]).amax(0)
    np.testing.assert_allclose(codecs.decode(w.scale["values"]), seen[ids.tolist()].numpy(), rtol=1e-5)


def test_several_prompts_stack(tiny_lab):
    w = heatmap(tiny_lab, ["one", "two three"])
    assert [len(p["tokens"]) for p in w.prompts] == [1 + 3, 1 + 9]


def test_empty_text_gives_an_empty_state_not_an_exception(tiny_lab):
    w = heatmap(tiny_lab, "")
    (p,) = w.prompts
    assert p["tokens"] == [] and "Empty text" in p["notice"]
    assert codecs.decode(p["top_ids"]).shape == (0, 8)
    w.feature = 3  # still works
    assert codecs.decode(w.feature_values["columns"][0]).shape == (0,)
    assert heatmap(tiny_lab, []).prompts == []
    assert heatmap(tiny_lab, ["  \n", "ok"]).prompts[1]["notice"] == ""


def test_text_longer_than_the_context_is_truncated_with_a_notice(tiny_lab, recwarn):
    w = heatmap(tiny_lab, "x" * 400)
    (p,) = w.prompts
    assert len(p["tokens"]) == tiny_lab.context_length == 256
    assert "400 tokens, more than the model's context of 256" in p["notice"]
    assert not [r for r in recwarn if "context" in str(r.message)]  # said once, in the view


def test_bad_arguments(tiny_lab, tiny_model_dir):
    with pytest.raises(TypeError, match="string"):
        heatmap(tiny_lab, 42)
    with pytest.raises(TypeError, match="string"):
        heatmap(tiny_lab, ["ok", None])
    with pytest.raises(ValueError, match="k must be at least 1"):
        heatmap(tiny_lab, "ok", k=0)
    no_sae = Lab(tiny_lab.model, tiny_lab.tokenizer, None, tiny_lab.hook, "tiny")
    with pytest.raises(ValueError, match="no SAE"):
        heatmap(no_sae, "ok")


def test_hover_explanations_default_to_top_tokens_or_vocabulary_words(tiny_lab):
    from saewidgets.analysis.explain import explanations

    w = heatmap(tiny_lab, "hello world")
    table = explanations(tiny_lab, progress=False, tokens=False)
    shown = w._shown  # the features the view lists
    assert shown and set(w.explanations) == {str(f) for f in shown}
    for f in shown:
        tokens = [t.strip() for t in table.token_texts(tiny_lab.tokenizer, table.top_token_ids(f, 9)) if t.strip()]
        once = {}  # each token once, whatever its case: the first form seen stands for it
        for token in tokens:
            once.setdefault(token.casefold(), token)
        text = ", ".join(list(once.values())[:3])
        # the hover names the method: top tokens here (no lab.prepare, so no scores), else the words it writes
        expected = f"{text} (top tokens)" if text else f"{', '.join(table.top_words(f, 3))} (writes)"
        assert w.explanations[str(f)] == expected
