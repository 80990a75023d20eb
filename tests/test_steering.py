"""Steering on a tiny random model: per-row interventions, batched sweeps, streaming, cancellation, the panel."""

from __future__ import annotations

import math
import threading
import time

import pandas as pd
import pytest
import torch

from conftest import D_MODEL, no_hooks_left, random_sae
from saewidgets import steering
from saewidgets.generation import Worker, generate_rows


def ids_of(lab, prompt="hello", chat=True):
    return lab.chat_ids(prompt, chat)


# ---- interventions


def test_feature_codes_equal_the_full_encoder():
    torch.manual_seed(0)
    x = torch.randn(2, 5, D_MODEL) * 3
    for arch in ("topk", "relu", "jumprelu"):
        sae = random_sae()
        if arch != "topk":
            sae.cfg.architecture = arch
            if arch == "jumprelu":
                sae.threshold = torch.nn.Parameter(torch.full((sae.d_sae,), 0.2))
        feats = [0, 7, 31, 100]
        torch.testing.assert_close(steering.feature_codes(sae, x, feats), sae.encode(x)[..., feats])
    sae, memory = random_sae(k=4), {}
    steps = torch.randn(40, 2, 1, D_MODEL) * 3  # decoding steps (the screen, cached columns) are exact too
    steering.feature_codes(sae, torch.randn(2, 3, D_MODEL), [5, 6], memory)
    for x1 in steps:
        torch.testing.assert_close(steering.feature_codes(sae, x1, [5, 6], memory), sae.encode(x1)[..., [5, 6]])
    sae = random_sae()
    with torch.no_grad():
        sae.b_enc.fill_(-100.0)  # nothing positive: the fast path
    assert steering.feature_codes(sae, x, [3]).abs().sum() == 0


@pytest.mark.parametrize("kind", ["int8", torch.float16, torch.bfloat16])
def test_low_precision_screen_is_exact_or_abstains(kind):
    from saewidgets import topk_screen

    torch.manual_seed(3)
    sae, decided = random_sae(k=4), 0
    topk_screen._CHOICE.update({False: kind, True: kind})  # whatever this CPU would prefer
    try:
        for _ in range(100):
            x = torch.randn(3, 1, D_MODEL) * 3
            pre = sae.pre_acts(x)
            ranked = pre[0, 0].argsort(descending=True)
            clear = [int(ranked[0]), int(ranked[20]), 9]         # far from the k-th value (usually)
            close = [int(ranked[3]), int(ranked[4])]              # the k-th and the next: within the band
            for feats in (clear, close):
                got = topk_screen.codes_if_decided(sae, x, pre[..., feats], 4)
                if got is not None:  # when it answers, the answer is exact
                    torch.testing.assert_close(got, sae.encode(x)[..., feats], rtol=0, atol=0)
                    decided += feats is clear
            assert topk_screen.codes_if_decided(sae, x[:1], pre[:1, :, close[:1]], 4) is None
    finally:
        topk_screen._CHOICE.clear()
    assert decided > 60  # the band is narrow: most steps need no fp32 encoder


def test_screen_stays_off_for_a_half_precision_sae():
    from saewidgets import topk_screen

    sae = random_sae(k=4).half()  # its own fp16 sort is the reference: an fp32 bound would not match it
    x = torch.randn(1, 1, D_MODEL)
    topk_screen._CHOICE.update({False: "int8", True: "int8"})
    try:
        assert topk_screen.codes_if_decided(sae, x, sae.pre_acts(x)[..., [0]], 4) is None
    finally:
        topk_screen._CHOICE.clear()


def test_screen_error_bounds_hold_on_hard_inputs():
    """The bound of every kind holds entry by entry, outliers and tiny values included."""
    from saewidgets import topk_screen

    torch.manual_seed(4)
    W_t = torch.randn(512, D_MODEL)
    W_t[:, 3] *= 40  # an outlier input dimension, as residual streams have
    W_t[7] = 0       # a dead column
    x = torch.randn(6, D_MODEL) * torch.tensor([1e-4, 1, 30, 300, 1, 1])[:, None]
    x[1, 5] = 500    # one huge coordinate
    x[4] = 0
    exact = x.double() @ W_t.double().T
    scale = x.norm(dim=1, keepdim=True) * W_t.norm(dim=1) + 1e-5
    for kind, narrow in (("int8", 0.1), (torch.float16, 0.01), (torch.bfloat16, 0.05)):
        product, error = topk_screen.product_and_error(topk_screen.prepare(W_t, kind), kind, x)
        finite = torch.isfinite(product)
        assert ((product.double() - exact).abs() <= error.double())[finite].all(), kind
        assert (error[finite] < narrow * scale[finite] + 2e-6).all(), kind  # and the band is narrow


def test_each_row_gets_its_own_intervention():
    sae = random_sae()
    torch.manual_seed(1)
    x = torch.randn(4, 6, D_MODEL) * 3
    rows = [(None, "clamp"), ({7: 1.5}, "clamp"), ({2: 3.0, 9: 1.0}, "amplify"), ({4: 2.0}, "calibrate")]
    out = steering.Intervention(sae, rows)(x)
    torch.testing.assert_close(out[0], x[0])
    for r, (steer, method) in enumerate(rows[1:], start=1):
        alone = steering.intervention(sae, steer, method)(x[r:r + 1])
        torch.testing.assert_close(out[r:r + 1], alone, atol=1e-5, rtol=1e-5)


def test_amplify_and_calibrate_follow_their_formulas():
    sae = random_sae()
    x = torch.randn(1, 4, D_MODEL) * 3
    S = sae.W_dec[[2, 9]].detach()
    S = (S / S.norm(dim=1, keepdim=True)).T  # [d, n]
    amp = steering.intervention(sae, {2: 3.0, 9: 3.0}, "amplify")(x)
    torch.testing.assert_close(amp[:, 1:], (x + 3.0 * torch.relu(x @ S) @ S.T)[:, 1:], atol=1e-5, rtol=1e-5)
    cal = steering.intervention(sae, {2: 0.5, 9: 0.5}, "calibrate")(x)
    beta = 0.5 * 2.0  # strength x the max activation (2.0 for every feature of random_sae)
    expected = x - torch.relu(x @ S) @ S.T + beta * S.mean(1)
    torch.testing.assert_close(cal[:, 1:], expected[:, 1:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(amp[:, 0], x[:, 0])  # the attention sink is never touched


def test_add_moves_along_the_unit_decoder_row_scaled_by_the_max_activation():
    sae = random_sae()
    x = torch.zeros(1, 3, D_MODEL)
    out = steering.intervention(sae, {5: 2.0}, "add")(x)
    row = sae.W_dec[5].detach()
    torch.testing.assert_close(out[0, 1], 2.0 * 2.0 * row / row.norm())


def test_the_sink_of_a_left_padded_row_is_left_alone():
    sae = random_sae()
    x = torch.randn(2, 6, D_MODEL)
    out = steering.Intervention(sae, [({3: 5.0}, "add"), ({3: 5.0}, "add")], pad=[0, 2])(x)
    torch.testing.assert_close(out[0, 0], x[0, 0])
    torch.testing.assert_close(out[1, :3], x[1, :3])  # two pads, then the sink
    assert not torch.allclose(out[1, 3], x[1, 3])
    # decoding steps (one position) are always steered
    step = torch.randn(2, 1, D_MODEL)
    assert not torch.allclose(steering.Intervention(sae, [({3: 5.0}, "add")])(step), step)


# ---- batched generation and sweeps


def test_sweep_is_one_batch_whose_rows_equal_single_generations(tiny_lab, monkeypatch):
    calls = []
    generate = tiny_lab.model.generate
    monkeypatch.setattr(tiny_lab.model, "generate", lambda *a, **k: calls.append(a[0].shape) or generate(*a, **k))
    df = tiny_lab.sweep("hello", 3, strengths=[1.0, 5.0, 20.0], max_new_tokens=8)
    assert calls == [torch.Size([4, len(ids_of(tiny_lab))])]  # baseline + 3 strengths in ONE call
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert list(df.columns) == ["prompt", "feature", "method", "strength", "steered", "text", "tokens"]
    assert math.isnan(df.strength[0]) and not df.steered[0] and df.steered[1:].all()
    monkeypatch.undo()
    assert df.text[0] == tiny_lab.generate("hello", max_new_tokens=8)
    for s, text in zip(df.strength[1:], df.text[1:]):
        assert text == tiny_lab.generate("hello", steer={3: s}, max_new_tokens=8)
    assert no_hooks_left(tiny_lab.model)


def test_sweep_over_several_prompts_pads_on_the_left(tiny_lab):
    prompts = ["hi", "a much longer prompt than the first"]
    df = tiny_lab.sweep(prompts, [3, 4], strengths=[4.0], max_new_tokens=6, chat=False)
    assert df.prompt.tolist() == [prompts[0]] * 2 + [prompts[1]] * 2 and df.feature[0] == (3, 4)
    for p, s, text in zip(df.prompt, df.strength, df.text):
        steer = None if math.isnan(s) else {3: s, 4: s}
        assert text == tiny_lab.generate(p, steer=steer, max_new_tokens=6, chat=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(strengths=[math.nan]), ValueError, "out of range"),
    (dict(strengths=[math.inf]), ValueError, "between -1000 and 1000"),
    (dict(strengths=[1.0], method="boost"), ValueError, "unknown steering method"),
    (dict(feature=10_000), IndexError, "out of range"),
    (dict(max_new_tokens=0), ValueError, "max_new_tokens"),
    (dict(temperature=-1.0), ValueError, "temperature"),
])
def test_bad_sweeps_are_rejected_and_leave_no_hook(tiny_lab, kwargs, error, match):
    args = dict(prompt="hello", feature=3, strengths=[2.0]) | kwargs
    with pytest.raises(error, match=match):
        tiny_lab.sweep(**args)
    assert no_hooks_left(tiny_lab.model)


def test_steering_without_max_activation_stats_uses_raw_units_with_a_notice(tiny_model_dir):
    import saewidgets as sw

    lab = sw.load(model=str(tiny_model_dir), sae=random_sae(with_stats=False), device="cpu")
    with pytest.warns(UserWarning, match="raw activation units"):
        lab.generate("hello", steer={3: 2.0}, max_new_tokens=2)
    panel = lab.steer([3])
    assert "raw" in panel.notice and panel.sliders["clamp"]["unit"] == "raw"


# ---- streaming and cancellation


def test_streaming_reports_every_step_and_ends_with_the_full_text(tiny_lab):
    seen = []
    out = generate_rows(tiny_lab, [ids_of(tiny_lab)], [({3: 4.0}, "clamp")], max_new_tokens=8,
                        on_step=lambda texts: seen.append(texts[0]))
    assert len(seen) == out.tokens[0] == 8 and seen[-1] == out.texts[0]
    assert out.texts[0] == tiny_lab.generate("hello", steer={3: 4.0}, max_new_tokens=8)
    # it streams: partial texts arrive before the final one (a batch reported only at the end would give
    # one update, or eight copies of the final text)
    assert len(set(seen[:-1]) - {seen[-1]}) >= 2
    assert out.first_token_s is not None  # recorded for the benchmarks (bench/bench_responsiveness.py)


def test_cancel_stops_within_one_decoding_step(tiny_lab):
    cancel = threading.Event()
    steps = []

    def on_step(texts):
        steps.append(texts)
        if len(steps) == 3:
            cancel.set()

    out = generate_rows(tiny_lab, [ids_of(tiny_lab)] * 2, [(None, "clamp"), ({3: 4.0}, "clamp")],
                        max_new_tokens=50, on_step=on_step, cancel=cancel)
    assert out.cancelled and len(steps) == 3 and out.tokens == [3, 3]
    assert no_hooks_left(tiny_lab.model)


@pytest.mark.parametrize("interrupt", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_exception_mid_generation_leaves_a_fresh_model(tiny_lab, tiny_model_dir, interrupt):
    import saewidgets as sw

    fresh = sw.load(model=str(tiny_model_dir), sae=random_sae(), device="cpu")
    expected = fresh.generate("hello", max_new_tokens=10)

    def on_step(texts):
        if len(texts[0]) >= 1:
            raise interrupt

    with pytest.raises(type(interrupt)):
        generate_rows(tiny_lab, [ids_of(tiny_lab)], [({3: 50.0}, "clamp")], max_new_tokens=10, on_step=on_step)
    assert no_hooks_left(tiny_lab.model)
    assert tiny_lab.generate("hello", max_new_tokens=10) == expected


def test_a_new_job_cancels_the_running_one():
    worker = Worker()
    started, log = threading.Event(), []

    def slow(job):
        started.set()
        while not job.cancelled:
            time.sleep(0.005)
        log.append(("slow", "cancelled"))

    a = worker.submit(slow)
    started.wait(5)
    pending = [worker.submit(lambda job, i=i: log.append(("job", i))) for i in range(5)]
    assert pending[-1].wait(5) and a.wait(5)
    assert log == [("slow", "cancelled"), ("job", 4)]  # the waiting ones were dropped: newest wins
    assert all(j.cancelled for j in pending[:-1])


def test_stream_yields_pieces_that_add_up_and_can_be_cancelled(tiny_lab):
    s = tiny_lab.stream("hello", steer={3: 4.0}, max_new_tokens=8)
    pieces = list(s)
    assert "".join(pieces) == s.text == tiny_lab.generate("hello", steer={3: 4.0}, max_new_tokens=8)
    long = tiny_lab.stream("hello", max_new_tokens=200)
    for _ in long:
        break  # leaving the loop cancels the generation
    assert long.job.wait(10) and long.job.cancelled and long.result.cancelled
    assert no_hooks_left(tiny_lab.model)


def test_a_newer_stream_cancels_the_older_one(tiny_lab):
    first = tiny_lab.stream("hello", max_new_tokens=200)
    second = tiny_lab.stream("hello", steer={3: 4.0}, max_new_tokens=5)
    assert "".join(second) == tiny_lab.generate("hello", steer={3: 4.0}, max_new_tokens=5)
    assert first.job.wait(10) and first.job.cancelled


# ---- the panel


@pytest.fixture
def panel(tiny_lab):
    return tiny_lab.steer([3], prompt="hello", max_new_tokens=12)


def test_panel_streams_steered_beside_unsteered_and_caches_the_unsteered(panel, tiny_lab):
    seen = []
    panel.observe(lambda c: seen.append(c["new"]), names="result")
    panel.run()
    r = panel.wait()
    assert r["status"] == "done" and [c["label"] for c in r["columns"]] == ["unsteered", "clamp #3 1×"]
    assert r["columns"][0]["text"] == tiny_lab.generate("hello", max_new_tokens=12)
    assert r["columns"][1]["text"] == tiny_lab.generate("hello", steer={3: 1.0}, max_new_tokens=12)
    # it streamed: "running" updates, one of them with generated tokens, all before the one final "done"
    assert [x["status"] for x in seen] == ["running"] * (len(seen) - 1) + ["done"]
    assert len(seen) >= 3 and any(0 < x["tokens"] < r["tokens"] for x in seen[:-1])
    panel.strengths = {3: 9.0}
    plan = panel._plan()
    assert len(plan["rows"]) == 1 and plan["columns"][0]["text"] == r["columns"][0]["text"]  # cached
    panel.run()
    assert panel.wait()["columns"][1]["text"] == tiny_lab.generate("hello", steer={3: 9.0}, max_new_tokens=12)
    assert no_hooks_left(tiny_lab.model)


def test_twenty_rapid_moves_end_with_exactly_the_last_setting(panel, tiny_lab):
    panel.max_new_tokens = 30
    ids = []
    panel.observe(lambda c: ids.append(c["new"]["id"]), names="result")
    for i in range(20):
        panel.set_state({"steer": [{"feature": 3, "strength": float(i)}]})
        panel._on_msg(panel, {"type": "run"}, [])
    last = panel.wait()
    assert last["status"] == "done" and last["id"] == ids[-1] == max(ids)
    assert ids == sorted(ids)  # a stale run never writes after a newer one
    assert last["columns"][1]["text"] == tiny_lab.generate("hello", steer={3: 19.0}, max_new_tokens=30)
    assert last["columns"][1]["label"] == "clamp #3 19×"


def test_stop_returns_while_the_model_is_mid_step_and_keeps_the_text(panel, tiny_lab):
    """The kernel's thread never waits for the model: the Stop message is handled while a decoding step is
    held open (a gate in a forward pre-hook), so a handler that joined the job, took the model's lock or
    generated on the calling thread could not return before the gate opens, and this test fails."""
    panel.max_new_tokens = 256
    calls, events, inside, gate = [0], [], threading.Event(), threading.Event()

    def hold(module, args):
        calls[0] += 1
        if calls[0] == 3:  # the prompt's forward, one decoding step, then the next step waits at the gate
            events.append("step held")
            inside.set()
            gate.wait(600)
            events.append("step resumed")

    def press_stop():
        panel._on_msg(panel, {"type": "stop"}, [])  # what the Stop button sends
        events.append("stop returned")

    handle = tiny_lab.model.register_forward_pre_hook(hold)
    try:
        panel.run()
        assert inside.wait(60), "the generation never reached its second decoding step"
        stopper = threading.Thread(target=press_stop)
        stopper.start()
        stopper.join(60)  # a guard against hanging, not a measure
        assert events == ["step held", "stop returned"], f"the Stop handler waited for the model: {events}"
        assert panel.result["status"] == "running"  # and the run was still going when it returned
    finally:
        gate.set()
        r = panel.wait()
        handle.remove()
    assert events[-1] == "step resumed"
    assert r["status"] == "stopped" and 0 < r["tokens"] < 256 and r["columns"][1]["text"]
    assert calls[0] <= 4  # cancelled within one decoding step of the gate opening


def test_sweep_mode_shows_every_strength(panel):
    panel.mode = "sweep"
    panel.run()
    r = panel.wait()
    labels = [c["label"] for c in r["columns"]]
    assert labels[0] == "unsteered" and len(labels) == 1 + len(panel.sliders["clamp"]["sweep"])


@pytest.mark.parametrize("state, match", [
    ({"steer": [{"feature": 3, "strength": math.nan}]}, "between -1000 and 1000"),
    ({"steer": [{"feature": 3, "strength": 1e9}]}, "between -1000 and 1000"),
    ({"steer": [{"feature": 999, "strength": 1.0}]}, "feature 999 is out of range"),
    ({"prompt": "  "}, "empty prompt"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
])
def test_bad_settings_show_their_error_in_the_panel(panel, state, match):
    panel.set_state(state)
    panel.run()
    assert panel.result["status"] == "error"
    assert match in panel.error


def test_unknown_method_from_the_browser_snaps_back_with_an_error(panel):
    panel.set_state({"method": "boost"})
    assert panel.method == "clamp" and "unknown steering method" in panel.error
    with pytest.raises(ValueError, match="unknown steering method"):
        panel._lab.steer([3], method="boost")


def test_features_join_by_index_search_and_selection(panel, tiny_lab, monkeypatch):
    panel._on_msg(panel, {"type": "add", "feature": 7}, [])
    assert list(panel.strengths) == [3, 7]
    panel._on_msg(panel, {"type": "add", "feature": 100_000}, [])
    assert "out of range" in panel.error
    monkeypatch.setattr(type(tiny_lab), "search", lambda self, q, **k: pd.DataFrame(
        {"feature": [11, 12], "score": [0.9, 0.5], "explanation": ["sea, ocean", "waves"]}), raising=False)
    panel._on_msg(panel, {"type": "search", "query": "ocean"}, [])
    assert [r["feature"] for r in panel.search_results["rows"]] == [11, 12] and panel.error == ""

    import traitlets

    class Sel(traitlets.HasTraits):  # any widget with a `feature` traitlet: heatmap, card, map
        feature = traitlets.Int(None, allow_none=True)

    sel = Sel()
    panel.follow(sel)
    sel.feature = 21
    assert 21 in panel.strengths and panel.strengths[21] == panel.sliders["clamp"]["default"]


def test_steering_vector_export_matches_add(tiny_lab):
    v = tiny_lab.steering_vector({3: 2.0, 8: -1.0})
    x = torch.zeros(1, 2, D_MODEL)
    out = steering.intervention(tiny_lab.sae, {3: 2.0, 8: -1.0}, "add")(x)
    torch.testing.assert_close(out[0, 1], v)


# ---- choosing a feature to steer


def test_steer_check_ranks_the_feature_that_writes_the_words_first(tiny_lab):
    # Make feature 7's decoder row point where the unembedding reads "z": clamping it must promote "z".
    model, sae = tiny_lab.model, tiny_lab.sae
    z = tiny_lab.tokenizer("z", add_special_tokens=False).input_ids[0]
    with torch.no_grad():
        sae.W_dec[7] = model.get_output_embeddings().weight[z].float() / model.get_output_embeddings().weight[z].norm()
    df = tiny_lab.steer_check([3, 7, 20], ["z"], strength=5.0)
    assert list(df.columns) == ["feature", "promotion", "top_gain"]
    assert df.feature[0] == 7 and df.promotion[0] > df.promotion[1]
    assert no_hooks_left(model)


def test_steer_check_rejects_bad_input(tiny_lab):
    with pytest.raises(ValueError, match="at least one feature"):
        tiny_lab.steer_check([], ["dog"])
    with pytest.raises(ValueError, match="non-empty word"):
        tiny_lab.steer_check([1], [" "])
    with pytest.raises(IndexError, match="out of range"):
        tiny_lab.steer_check([10**6], ["dog"])
    assert no_hooks_left(tiny_lab.model)
