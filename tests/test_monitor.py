"""The live feature monitor (saewidgets/monitor.py) on a tiny random model: what it records, when it acts, and
that nothing is left behind. Order of events is asserted, never wall-clock time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from saewidgets.generation import generate_rows
from tests.conftest import no_hooks_left

PROMPT = "the cat sat on the mat"


def ascii_only(lab) -> list[int]:
    """Token ids to suppress so a reply is printable ASCII: decoded and encoded again it gives the same ids."""
    tok = lab.tokenizer
    bad = []
    for i in range(len(tok)):
        piece = tok.decode([i])
        if not (len(piece) == 1 and 32 <= ord(piece) < 127):
            bad.append(i)
    return bad


def generate(lab, monitor=None, steer=None, method="add", n=16, **kwargs):
    ids = lab.chat_ids(PROMPT, chat=False)
    return ids, generate_rows(lab, [ids], [(steer, method)], max_new_tokens=n, monitor=monitor,
                              suppress_tokens=ascii_only(lab), **kwargs)


def reply_ids(lab, text):
    return lab.tokenizer(text, add_special_tokens=False).input_ids


def test_recorded_activations_equal_a_plain_encode_of_the_same_tokens(tiny_lab):
    feats = [3, 17, 42, 99]
    mon = tiny_lab.monitor(feats, threshold=0.0)
    ids, out = generate(tiny_lab, mon)
    full = ids + reply_ids(tiny_lab, out.texts[0])
    df = mon.frame()
    T = df.position.max() + 1
    assert T == len(full) - 1  # every token the model read: the prompt and the reply but its last token
    fa = tiny_lab.encode(tiny_lab.tokenizer.decode(full[1:]))  # lab.encode puts the BOS back
    assert fa.token_ids == full
    recorded = df.pivot(index="position", columns="feature", values="activation")[feats].to_numpy()
    np.testing.assert_allclose(recorded, fa.values[:T, feats].numpy(), rtol=1e-4, atol=1e-5)
    assert list(df[df.feature == feats[0]].token) == fa.tokens[:T]
    assert set(df.phase[df.position < len(ids)]) == {"prompt"} and set(df.phase[df.position >= len(ids)]) == {"reply"}
    assert no_hooks_left(tiny_lab.model)


def a_trigger(lab, feats, after: int):
    """A feature, threshold and reply position where that feature first goes above the threshold."""
    mon = lab.monitor(feats, threshold=0.0)
    ids, _ = generate(lab, mon, n=24)
    df = mon.frame()
    for f in feats:
        a = df[df.feature == f].sort_values("position").activation.to_numpy()
        for p in range(len(ids) + after, len(a)):
            if a[p] > a[:p].max() + 1e-4:
                return f, float((a[p] + a[:p].max()) / 2), p
    pytest.skip("no feature reaches a new maximum in the reply")


def test_conditional_steering_starts_exactly_at_the_triggering_step(tiny_lab):
    f, threshold, p = a_trigger(tiny_lab, list(range(128)), after=1)
    ids, plain = generate(tiny_lab, n=24)
    steps = []
    mon = tiny_lab.monitor([f], threshold=threshold, action="steer", steer={(f + 1) % 128: 60.0}, method="add")
    mon.subscribe(lambda u: steps.append((u["kind"], len(mon.events), list(u["watch"].steered[0]) if "watch" in u else [])))
    _, steered = generate(tiny_lab, mon, n=24)
    df = mon.frame()
    one = df[df.feature == f].sort_values("position")
    # the event is at p, and the intervention is on from p (the same forward), never before
    assert [(e.position, e.action) for e in mon.events][:1] == [(p, "steer")]
    assert not one.steered[one.position < p].any() and one.steered[one.position >= p].all()
    # order of events: the step that raised the event is the step whose last position is the first steered one
    first_event_step = next(i for i, s in enumerate(steps) if s[1] > 0)
    assert steps[first_event_step][2][-1] is True and not any(steps[first_event_step][2][:-1])
    # the reply is the plain one up to the token computed at position p; the next one is computed steered
    plain_ids, steered_ids = reply_ids(tiny_lab, plain.texts[0]), reply_ids(tiny_lab, steered.texts[0])
    k = p - len(ids) + 1  # reply tokens produced by forwards that read positions < p
    assert steered_ids[:k] == plain_ids[:k]
    assert steered_ids[k:] != plain_ids[k:]
    assert no_hooks_left(tiny_lab.model)


def test_stop_ends_the_generation_cleanly_with_a_reason(tiny_lab):
    f, threshold, p = a_trigger(tiny_lab, list(range(128)), after=1)
    ids, plain = generate(tiny_lab, n=24)
    mon = tiny_lab.monitor([f], threshold=threshold, action="stop")
    _, out = generate(tiny_lab, mon, n=24)
    k = p - len(ids) + 1
    assert reply_ids(tiny_lab, out.texts[0]) == reply_ids(tiny_lab, plain.texts[0])[:k]
    assert out.stopped == [True] and f"#{f}" in out.reasons[0] and mon.reason == out.reasons[0]
    assert no_hooks_left(tiny_lab.model)


def test_events_need_the_stated_number_of_consecutive_tokens(tiny_lab):
    feats = [5, 6, 7, 8]
    probe = tiny_lab.monitor(feats, threshold=0.0)
    generate(tiny_lab, probe)
    df = probe.frame()
    threshold = float(df.activation[df.activation > 0].median()) if (df.activation > 0).any() else 0.0
    mon = tiny_lab.monitor(feats, threshold=threshold, consecutive=2)
    generate(tiny_lab, mon)
    expected = []
    for f in feats:
        above = (df[df.feature == f].sort_values("position").activation > threshold).to_numpy()
        run = 0
        for pos, a in enumerate(above):
            run = run + 1 if a else 0
            if run == 2:
                expected.append((pos, f))
    assert sorted((e.position, e.feature) for e in mon.events) == sorted(expected)


def test_lab_generate_stream_sweep_and_the_context_manager_are_watched(tiny_lab):
    with tiny_lab.monitor([1, 2], threshold=0.0, action="stop") as mon:
        reply = tiny_lab.generate(PROMPT, max_new_tokens=4, chat=False)
        assert hasattr(reply, "stopped") and isinstance(reply, str)
        df = tiny_lab.sweep(PROMPT, 3, strengths=[1.0], max_new_tokens=4, chat=False, method="add")
        assert {"stopped", "reason"} <= set(df.columns) and len(df) == 2
        stream = tiny_lab.stream(PROMPT, max_new_tokens=4, chat=False)
        "".join(stream)
    assert sorted(set(mon.frame().generation)) == [0, 1, 2]
    assert tiny_lab.generate(PROMPT, max_new_tokens=2, chat=False).__class__ is str  # outside: unwatched
    assert no_hooks_left(tiny_lab.model)


def test_words_and_detectors_become_features(tiny_lab):
    detector = tiny_lab.contrast(["the cat sat", "a cat ran"], ["12 34 56", "78 90 12"], k=5)
    mon = tiny_lab.monitor(detector, top=2)
    assert mon.features == [int(f) for f in detector.feature[:2]]
    assert mon.threshold_source == "guess" and "guess" in repr(mon)
    assert math.isclose(mon.thresholds[mon.features[0]], 1.0)  # half the max activation (2.0 in the fixture)


@pytest.mark.parametrize("watch, threshold, match", [
    ([128], None, "out of range|feature"), ([], None, "watch list is empty"), ([1], float("nan"), "finite"),
    ([1], -1.0, "negative"), ([1], {2: 1.0}, "not watched"), ([1], "high", "must be a number"),
])
def test_bad_input_gets_a_clear_error(tiny_lab, watch, threshold, match):
    with pytest.raises((ValueError, IndexError), match=match):
        tiny_lab.monitor(watch, threshold)


def test_bad_actions_and_short_calibration_texts(tiny_lab):
    with pytest.raises(ValueError, match="unknown action"):
        tiny_lab.monitor([1], action="explode")
    with pytest.raises(ValueError, match="consecutive"):
        tiny_lab.monitor([1], consecutive=0)
    mon = tiny_lab.monitor([1, 2])
    with pytest.raises(ValueError, match="too short to calibrate"):
        mon.calibrate(["hi there"], fpr=0.01)
    with pytest.raises(ValueError, match="fpr"):
        mon.calibrate(["hi there"], fpr=1.5)


def test_calibration_keeps_benign_windows_under_the_rate(tiny_lab):
    texts = [f"benign text number {i}: the weather is mild and the cat naps." for i in range(8)]
    mon = tiny_lab.monitor([3, 17, 42], consecutive=2)
    assert not mon.calibrated
    report = mon.calibrate(texts, fpr=0.05)
    assert mon.calibrated and "calibrated" in mon.threshold_note()
    assert list(report.feature) == [3, 17, 42] and (report.benign_trigger_rate <= 0.05).all()
    assert (report.windows >= 20).all()


def test_after_an_exception_or_a_cancelled_stream_no_hook_is_left(tiny_lab):
    before = {k: v.clone() for k, v in tiny_lab.model.state_dict().items()}
    ids = torch.tensor([tiny_lab.chat_ids(PROMPT, chat=False)])
    logits = tiny_lab.model(ids).logits
    mon = tiny_lab.monitor([1, 2], threshold=0.0, action="steer", steer={3: 50.0}, method="add")

    def boom(update):
        if update["kind"] == "step" and not update["prefill"]:
            raise RuntimeError("listener failed")

    stop = mon.subscribe(boom)
    with pytest.raises(RuntimeError, match="listener failed"):
        tiny_lab.generate(PROMPT, max_new_tokens=8, chat=False, monitor=mon)
    stop()
    assert no_hooks_left(tiny_lab.model)
    stream = tiny_lab.stream(PROMPT, max_new_tokens=200, chat=False, monitor=mon)
    for _ in stream:
        break  # leaving the loop cancels it
    stream.job.wait(30)
    assert stream.result is None or stream.result.cancelled
    assert no_hooks_left(tiny_lab.model)
    after = tiny_lab.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    torch.testing.assert_close(tiny_lab.model(ids).logits, logits)


def test_hooked_forward_steers_from_the_trigger(tiny_lab):
    ids = tiny_lab.chat_ids(PROMPT, chat=False)
    x = torch.tensor([ids])
    plain = tiny_lab.model(x).logits
    mon = tiny_lab.monitor(list(range(128)), threshold=0.0, action="steer", steer={3: 50.0}, method="add")
    with mon.hooked([ids]):
        steered = tiny_lab.model(x).logits
    first = mon.events[0].position
    torch.testing.assert_close(steered[0, :first], plain[0, :first])
    assert not torch.allclose(steered[0, first:], plain[0, first:])
    assert no_hooks_left(tiny_lab.model)


def test_the_view_follows_a_generation_and_sits_beside_the_steering_panel(tiny_lab):
    from saewidgets.widgets.codecs import decode

    mon = tiny_lab.monitor([1, 2, 3], threshold=0.0, action="stop")
    view = mon.view()
    assert view.guess is False and view.status == "idle" and [f["feature"] for f in view.features] == [1, 2, 3]
    statuses = []
    view.observe(lambda c: statuses.append(c["new"]), names="status")
    reply = tiny_lab.generate(PROMPT, max_new_tokens=6, chat=False, monitor=mon)
    assert statuses[0] == "running" and statuses[-1] == ("stopped" if reply.stopped else "done")
    values = decode(view.values)
    assert values.shape == (len(view.tokens), 3) and len(decode(view.flags)) == len(view.tokens)
    assert [e["position"] for e in view.events] == [e.position for e in reply.events]
    panel = tiny_lab.steer([5], prompt=PROMPT, monitor=mon, max_new_tokens=4, chat=False)
    assert panel.monitor_view is not None
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle[0] if isinstance(bundle, tuple) else bundle
    panel.run()
    result = panel.wait(60)
    assert result["status"] == "done" and any(c.get("note", "").startswith("stopped") for c in result["columns"])
    assert mon.frame().generation.nunique() == 2
    view.close()
    assert no_hooks_left(tiny_lab.model)


def test_the_explorer_shows_the_timeline_beside_its_panel(tiny_lab):
    mon = tiny_lab.monitor([1, 2], threshold=0.5)
    e = tiny_lab.explorer("hello world", show_map=False, monitor=mon)
    assert e.monitor_view is e.panel.monitor_view and e.monitor_view is not None
    assert any(e.monitor_view in getattr(c, "children", ()) for c in e.children)
    alone = tiny_lab.explorer("hi", show_map=False, steer=False, monitor=mon)
    assert alone.monitor_view in alone.children
