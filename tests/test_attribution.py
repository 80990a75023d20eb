"""Feature attribution (saewidgets.analysis.attribution, lab.attribute): against finite differences and an
independent gradient on a tiny random model, its targets, its errors, and that it leaves the model as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saewidgets.analysis import attribution as A
from saewidgets.hooks import edit, run_to

from conftest import no_hooks_left, random_sae, save_tiny_model

PROMPT = "Hello world, the cat sat"


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny-gpt2-attr"), "gpt2")


@pytest.fixture
def lab64(gpt2_dir):
    """A tiny GPT-2 Lab in float64, where finite differences agree with gradients to many digits (Llama's
    RMSNorm computes in float32 whatever the model's dtype, which would limit them to about 1e-4)."""
    import saewidgets as sw

    lab = sw.load(model=str(gpt2_dir), sae=random_sae(), device="cpu")
    lab.model.double()
    lab.sae.double()
    return lab


def logits(lab, text=PROMPT):
    with torch.no_grad():
        return lab.model(input_ids=torch.tensor([lab.tokenize(text)])).logits.clone()


def grad_state(lab):
    return [p.requires_grad for p in lab.model.parameters()] + [p.requires_grad for p in lab.sae.parameters()]


def one(lab, prompt=PROMPT, **kwargs) -> A.TargetAttribution:
    ids, targets, _ = A.plan(lab, prompt, kwargs.pop("target", None), **kwargs)
    return A.attribute_targets(lab, ids, targets)[0], ids


# ---- the numbers


def test_feature_attribution_matches_finite_differences(lab64):
    r, ids = one(lab64)
    sae = lab64.sae
    ab_rows = torch.nonzero(r.values > 0)
    picked = ab_rows[torch.argsort(r.attribution[r.values > 0].abs(), descending=True)[:8]]
    eps = 1e-4
    checked = 0
    for p, s in picked.tolist():
        v, i = r.values[p, s].reshape(1, 1), r.indices[p, s].reshape(1, 1)
        share = sae.decode_sparse(v, i)[0] - sae.b_dec  # the feature's contribution to x at position p
        deltas = torch.zeros(2, r.target.position + 1, sae.d_in, dtype=sae.dtype)
        deltas[0, p], deltas[1, p] = eps * share, -eps * share
        up, down = A.target_values(lab64, ids, r.target, r.token, "logprob", deltas).tolist()
        # scaling the feature by (1 ± eps): the central difference is activation × gradient
        fd = (up - down) / (2 * eps)
        assert fd == pytest.approx(float(r.attribution[p, s]), rel=1e-6, abs=1e-12)
        checked += 1
    assert checked == 8


def test_error_attribution_matches_finite_differences(lab64):
    r, ids = one(lab64)
    sae = lab64.sae
    p = int(torch.argmax(r.error.abs()))
    with torch.no_grad():
        h = run_to(lab64.model, lab64.hook, torch.tensor([ids]))[0].to(sae.dtype)
        values, indices = sae.encode_sparse(h)
        err = h - sae.decode_sparse(values, indices)
    eps = 1e-4
    deltas = torch.zeros(2, r.target.position + 1, sae.d_in, dtype=sae.dtype)
    deltas[0, p], deltas[1, p] = eps * err[p], -eps * err[p]
    up, down = A.target_values(lab64, ids, r.target, r.token, "logprob", deltas).tolist()
    assert (up - down) / (2 * eps) == pytest.approx(float(r.error[p]), rel=1e-6)


def independent_linearised(lab, ids, position, token, method="logprob"):
    """Σ_p ∂target/∂x[p] · (x[p] − b_dec) over non-sink positions, from a plain forward with x a leaf."""
    from saewidgets.activations import sink_mask

    box = {}

    def leaf(h):
        x = h.detach().requires_grad_(True)
        box["x"] = x
        return x

    with torch.enable_grad(), edit(lab.model, lab.hook, leaf):
        out = lab.model(input_ids=torch.tensor([ids[: position + 1]])).logits[0, position].double()
        value = out.log_softmax(-1)[token] if method == "logprob" else out[token]
        (g,) = torch.autograd.grad(value, box["x"])
    x = box["x"].detach()
    keep = ~sink_mask(x)[0]
    return float(((x[0] - lab.sae.b_dec) * g[0]).sum(-1)[keep].sum())


@pytest.mark.parametrize("method", ["logprob", "logit"])
def test_attributions_add_up_to_the_linearised_total(tiny_lab, method):
    df = tiny_lab.attribute(PROMPT, method=method)
    ids, pos, tok = df.attrs["ids"], df.attrs["target_position"], df.attrs["target_token"]
    expected = independent_linearised(tiny_lab, ids, pos, tok, method)
    assert df.attribution.sum() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert df.attrs["total"] == pytest.approx(df.attrs["linearised"], rel=1e-5, abs=1e-7)
    assert (df.feature == A.ERROR).sum() == len(ids) - 1  # one error row a position, the sink left out
    assert abs(df.attrs["error"]) > 0 and (df.feature >= 0).sum() > 0


def test_frame_columns_order_and_top(tiny_lab):
    df = tiny_lab.attribute(PROMPT)
    assert list(df.columns) == ["position", "token", "feature", "activation", "attribution", "explanation"]
    a = df.attribution.abs().to_numpy()
    assert (np.diff(a) <= 0).all()
    assert (df.activation[df.feature >= 0] > 0).all()
    assert set(df.explanation[df.feature == A.ERROR]) == {A.ERROR_LABEL}
    tokens = tiny_lab.encode(PROMPT).tokens
    assert all(tokens[p] == t for p, t in zip(df.position, df.token))
    assert len(tiny_lab.attribute(PROMPT, top=5)) == 5
    only = tiny_lab.attribute(PROMPT, positions=[3, -1])
    assert set(only.position) == {3, len(tokens) - 1}


# ---- targets


def test_default_target_is_the_top_prediction_and_a_string_target_is_that_token(tiny_lab):
    df = tiny_lab.attribute(PROMPT)
    top = int(logits(tiny_lab)[0, -1].argmax())
    assert df.attrs["target_token"] == top
    named = tiny_lab.attribute(PROMPT, target=tiny_lab.tokenizer.decode([top]))
    assert named.attrs["target_token"] == top
    assert np.allclose(named.attribution.sum(), df.attribution.sum(), rtol=1e-5)
    lp = logits(tiny_lab)[0, -1].log_softmax(-1)[top]
    assert df.attrs["value"] == pytest.approx(float(lp), rel=1e-4)


def test_logit_difference_is_the_difference_of_logit_attributions(tiny_lab):
    a = tiny_lab.attribute(PROMPT, target="a", method="logit")
    b = tiny_lab.attribute(PROMPT, target="b", method="logit")
    diff = tiny_lab.attribute(PROMPT, target=("a", "b"))
    assert diff.attrs["target"] == "'a' − 'b'"
    key = ["position", "feature"]
    merged = a.merge(b, on=key, suffixes=("_a", "_b")).merge(diff, on=key)
    assert len(merged) == len(diff)
    assert np.allclose(merged.attribution, merged.attribution_a - merged.attribution_b, atol=1e-5)
    assert diff.attrs["value"] == pytest.approx(a.attrs["value"] - b.attrs["value"], abs=1e-4)


def test_batched_targets_equal_one_at_a_time(tiny_lab):
    both = tiny_lab.attribute(PROMPT, target=["a", ("x", "y")])
    assert list(both.columns[:2]) == ["target", "target_position"]
    for name, spec in [("'a'", "a"), ("'x' − 'y'", ("x", "y"))]:
        alone = tiny_lab.attribute(PROMPT, target=spec)
        part = both[both.target == name].drop(columns=["target", "target_position"]).reset_index(drop=True)
        assert np.allclose(part.attribution, alone.attribution, atol=1e-6)
        assert (part.feature.to_numpy() == alone.feature.to_numpy()).mean() > 0.95  # ties may swap


def test_a_reply_token_is_attributed_given_the_prompt_and_the_reply_before_it(tiny_lab):
    # plain text (chat=False) so the same tokens can be written as one prompt: "Hello" + "ab" -> "Helloab"
    reply = tiny_lab.attribute("Hello", reply="abc", reply_index=2, chat=False)
    direct = tiny_lab.attribute("Helloab", target="c")
    assert reply.attrs["target"] == "'c'" and reply.attrs["target_position"] == direct.attrs["target_position"]
    assert np.allclose(reply.attribution.to_numpy(), direct.attribution.to_numpy(), atol=1e-6)
    every = tiny_lab.attribute("Hello", reply="abc", reply_index=[0, 1, 2, 3], chat=False)
    assert list(dict.fromkeys(every.target))[:3] == ["'a'", "'b'", "'c'"]
    assert every.target_position.max() == len(tiny_lab.tokenize("Helloabc")) - 1  # the slot after the reply
    chat = tiny_lab.attribute("Hello", reply="abc", reply_index=0)  # a reply is read after the chat template
    assert chat.attrs["target_position"] == len(tiny_lab.chat_ids("Hello")) - 1


# ---- bad input gets a clear error


def test_bad_input_gets_clear_errors(tiny_lab, tiny_model_dir):
    import saewidgets as sw

    with pytest.raises(ValueError, match="empty prompt"):
        tiny_lab.attribute("   ")
    with pytest.raises(ValueError, match=r"not in the vocabulary \(ids 0\.\.258\)"):
        tiny_lab.attribute(PROMPT, target=10**6)
    with pytest.raises(ValueError, match=r"'dog' is not one token: it tokenizes as \['d', 'o', 'g'\]"):
        tiny_lab.attribute(PROMPT, target="dog")
    with pytest.raises(IndexError, match=r"position 99 is out of range: the text has \d+ tokens"):
        tiny_lab.attribute(PROMPT, positions=[99])
    with pytest.raises(ValueError, match="attention sink"):
        tiny_lab.attribute(PROMPT, positions=0)
    with pytest.raises(IndexError, match="reply_index 9 is out of range: the reply has 3 tokens"):
        tiny_lab.attribute(PROMPT, reply="abc", reply_index=9)
    with pytest.raises(ValueError, match="pass reply_index"):
        tiny_lab.attribute(PROMPT, reply="abc")
    with pytest.raises(ValueError, match="unknown attribution method 'grad'"):
        tiny_lab.attribute(PROMPT, method="grad")
    with pytest.raises(ValueError, match="logit-difference target is a pair"):
        tiny_lab.attribute(PROMPT, target=("a", "b", "c"))
    bare = sw.load(model=str(tiny_model_dir), device="cpu")
    with pytest.raises(ValueError, match="this Lab has no SAE: pass sae="):
        bare.attribute(PROMPT)


# ---- the model is left exactly as it was


def test_no_hook_left_gradients_off_and_logits_identical_after_a_call(tiny_lab):
    before, flags = logits(tiny_lab), grad_state(tiny_lab)
    tiny_lab.attribute(PROMPT, target=["a", "b"])
    with torch.no_grad():  # a caller's no_grad does not stop attribution (it turns gradients on itself)
        assert len(tiny_lab.attribute(PROMPT)) > 0
    assert no_hooks_left(tiny_lab.model)
    assert grad_state(tiny_lab) == flags
    assert torch.equal(logits(tiny_lab), before)
    assert all(p.grad is None for p in tiny_lab.model.parameters())


def test_an_exception_in_the_middle_leaves_the_model_as_it_was(tiny_lab, monkeypatch):
    before, flags = logits(tiny_lab), grad_state(tiny_lab)
    calls = []

    def broken(values, indices):  # fails inside the hook, after the forward has started
        calls.append(1)
        raise RuntimeError("boom in the middle")

    monkeypatch.setattr(tiny_lab.sae, "decode_sparse", broken)
    with pytest.raises(RuntimeError, match="boom in the middle"):
        tiny_lab.attribute(PROMPT)
    assert calls
    monkeypatch.undo()
    assert no_hooks_left(tiny_lab.model)
    assert grad_state(tiny_lab) == flags
    assert torch.equal(logits(tiny_lab), before)
    assert len(tiny_lab.attribute(PROMPT)) > 0  # and it works again


def test_ablate_rows_reports_the_real_change(tiny_lab):
    r, ids = one(tiny_lab)
    ab = A.ablate_rows(tiny_lab, r, ids, n=5)
    assert len(ab) == 5 and (np.diff(ab.attribution.abs().to_numpy()) <= 1e-12).all()
    p, f = int(ab.position[0]), int(ab.feature[0])
    sae = tiny_lab.sae

    def zero(h):  # the same ablation written out: remove that feature's decoder share at that position
        x = h.clone()
        z = sae.encode(x[0, p])
        x[0, p] = x[0, p] - z[f] * sae.W_dec[f]
        return x

    before = float(A.target_values(tiny_lab, ids, r.target, r.token, "logprob")[0])
    with edit(tiny_lab.model, tiny_lab.hook, zero), torch.no_grad():
        out = tiny_lab.model(input_ids=torch.tensor([ids[: r.target.position + 1]])).logits[0, -1]
    assert float(out.log_softmax(-1)[r.token]) - before == pytest.approx(float(ab.ablation[0]), abs=1e-5)
    assert no_hooks_left(tiny_lab.model)


# ---- the real default


@pytest.mark.integration
def test_default_model_attributes_paris_and_ablation_agrees(default_lab):
    df = default_lab.attribute("The capital of France is")
    assert df.attrs["target"] == "' Paris'"
    assert df.attribution.sum() == pytest.approx(df.attrs["linearised"], rel=1e-3, abs=1e-4)
    ids, targets, _ = A.plan(default_lab, "The capital of France is")
    r = A.attribute_targets(default_lab, ids, targets)[0]
    ab = A.ablate_rows(default_lab, r, ids, n=20)
    assert np.corrcoef(ab.attribution, -ab.ablation)[0, 1] > 0.6
    assert (np.sign(ab.attribution.head(10)) == np.sign(-ab.ablation.head(10))).mean() >= 0.8
    assert no_hooks_left(default_lab.model)


# ---- the view's Python side (the browser side: tests/browser/test_attribution.py)


def test_view_answers_clicks_in_a_worker_thread_and_tests_a_feature(tiny_lab, monkeypatch):
    import threading

    from saewidgets.widgets import attribution as W

    threads = []
    real = A.attribute_targets

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(W.attr, "attribute_targets", spy)
    box = tiny_lab.attribution("Hello", reply="abc", card=False)
    view = box.view
    assert view.wait(60)
    n = view.n_prompt
    assert view.pieces[n:] == ["a", "b", "c"] and view.selected == n  # the first reply token by default
    assert view.result["status"] == "done" and view.result["target"]["token"] == "a"
    assert threads == ["saewidgets-attribution"]  # not the kernel's main thread
    view._on_msg(view, {"type": "attribute", "id": 7, "index": len(view.pieces)}, [])  # the next-token slot
    assert view.wait(60) and view.result["index"] == len(view.pieces) and view.result["id"] >= 7
    bars = view.result["bars"]
    assert bars and all(b["attribution"] != 0 for b in bars)
    from saewidgets.widgets.codecs import decode

    positions = decode(view.result["positions"])
    assert positions.shape == (len(bars) + 2, len(view.pieces))
    # each bar's per-position row sums to its bar; the total row sums to all features + error
    assert np.allclose(positions[:-2].sum(1), [b["attribution"] for b in bars], atol=1e-5)
    assert positions[-2].sum() == pytest.approx(view.result["total"], abs=1e-5)
    feature = bars[0]["feature"]
    box.feature = feature
    assert view.feature == feature
    view._on_msg(view, {"type": "test", "id": 1, "feature": feature, "action": "ablate"}, [])
    assert view.wait(60)
    r = view.test_result
    assert r["status"] == "done" and r["feature"] == feature and r["before"] == pytest.approx(
        view.result["target"]["probability"], rel=1e-5)
    again = A.intervened(tiny_lab, view.ids, view._target(view.selected), None, {feature: 1.0}, "ablate")
    assert r["after"] == pytest.approx(again["after"], rel=1e-6) and r["after"] != r["before"]
    view._on_msg(view, {"type": "attribute", "id": 9, "index": 0}, [])  # the sink: an error in the view
    assert "token index 0 is out of range" in view.error
    assert no_hooks_left(tiny_lab.model)
