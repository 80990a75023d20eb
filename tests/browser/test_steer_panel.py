"""The steering panel in a real JupyterLab on the default model: a slider drag streams steered text beside the
unsteered, 20 rapid moves end with exactly the last setting's text, Stop stops, the kernel answers while
generating, errors show in the panel, light and dark."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
PROMPT = "Tell me about your weekend."
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "import json, torch\n"
    "from labs import browser_lab\n"
    "lab = browser_lab()\n"
    "# a concept feature (the tour's): steered, the weekend turns into dogs, so the columns differ visibly\n"
    "feature = int(lab.search('dog').feature.iloc[0])",
    f"panel = lab.steer({{feature: 0.5}}, prompt={PROMPT!r}, max_new_tokens=16)\npanel",
    "print(json.dumps({'feature': feature}))",
]
PANEL = ".saew-steer"


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("steer-panel.ipynb", CELLS, viewport=(1200, 1400))
    nb.run_all(timeout=600)
    nb.cell(1).locator(f"{PANEL} .saew-st-slider").first.wait_for()
    return nb


@pytest.fixture(scope="module")
def feature(nb):
    return json.loads(nb.output_text(2))["feature"]


def kernel_json(nb, code: str):
    return json.loads(nb.kernel(f"import json; print(json.dumps({code}))", timeout=300))


def wait_done(nb, timeout=300):
    """Wait for the panel's latest run (kernel side, then the page) to finish."""
    view = nb.cell(1).locator(PANEL)
    time.sleep(0.5)  # past the view's debounce, so the last request has been sent
    nb.kernel("panel.wait(300)", timeout=timeout)
    expect(view.locator(".saew-st-status")).to_contain_text("done", timeout=timeout * 1000)
    return view


# Records what the view shows after each redraw, in order, on the panel's element (root.__saewLog): the
# status line, the run id on the output, and every column's text. Read with view.evaluate("r => r.__saewLog").
RECORD = """(root) => {
  const status = root.querySelector('.saew-st-status'), out = root.querySelector('.saew-st-out');
  const log = (root.__saewLog = []);
  const snap = () => {
    const entry = { status: status.textContent, run: out.dataset.run ?? null,
                    texts: [...out.querySelectorAll('.saew-st-text')].map((e) => e.textContent) };
    if (JSON.stringify(log.at(-1)) !== JSON.stringify(entry)) log.push(entry);
  };
  snap();
  new MutationObserver(snap).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def columns(view) -> list[tuple[str, str]]:
    heads = view.locator(".saew-st-head").all_inner_texts()
    texts = view.locator(".saew-st-text").evaluate_all("els => els.map(e => e.textContent)")
    return list(zip(heads, texts))


def test_dragging_a_slider_streams_steered_beside_unsteered(nb, feature):
    view = nb.cell(1).locator(PANEL)
    slider = view.locator(f'.saew-st-row[data-feature="{feature}"] .saew-st-slider')
    before = view.locator(".saew-st-out").get_attribute("data-run")
    view.evaluate(RECORD)
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    nb.page.mouse.move(box["x"] + box["width"] / 2, y)  # 0 on the clamp's -3..3 range
    nb.page.mouse.down()
    for frac in (0.6, 0.7, 0.8):  # drag to about 1.8x the max activation
        nb.page.mouse.move(box["x"] + box["width"] * frac, y, steps=4)
    nb.page.mouse.up()
    # the release starts one new run; wait (a guard, not a measure) until the view shows it done
    nb.page.wait_for_function(
        "([root, before]) => root.__saewLog.some((e) => e.run !== before && e.status.startsWith('done'))",
        arg=[view.element_handle(), before], timeout=300_000, polling=100)
    log = view.evaluate("r => r.__saewLog")
    run = next(e["run"] for e in log if e["run"] != before)
    mine = [e for e in log if e["run"] == run]
    status = [e["status"].split()[0] for e in mine]
    # the order of what the page showed for that run: generating (streamed pieces), then done, once
    assert status[0] == "generating…" and status[-1] == "done" and status.count("done") == 1, status
    partial = [e["texts"][1] for e in mine[:-1] if len(e["texts"]) == 2 and e["texts"][1]]
    # several pieces before the final text: a view or kernel that sent the text only when done shows none
    assert len(set(partial) - {mine[-1]["texts"][1]}) >= 2, "the steered text should arrive in pieces, not at once"
    assert all(mine[-1]["texts"][1].startswith(p.rstrip().rstrip("\ufffd")) for p in partial)  # pieces of this run's text
    cols = columns(view)
    strength = kernel_json(nb, "panel.strengths")[str(feature)]
    assert kernel_json(nb, "panel.result['id']") == int(run)  # the run shown is the kernel's latest
    assert 1.2 < strength < 2.5
    assert [h for h, _ in cols] == ["unsteered", f"clamp #{feature} {strength:g}×"]
    expected = kernel_json(nb, f"[lab.generate({PROMPT!r}, max_new_tokens=16), "
                               f"lab.generate({PROMPT!r}, steer={{feature: {strength}}}, max_new_tokens=16)]")
    assert [t for _, t in cols] == expected and expected[0] != expected[1]
    nb.page.mouse.move(0, 0)
    nb.screenshot("steer-drag-light", view)


def test_twenty_rapid_moves_end_with_the_last_setting(nb, feature):
    view = nb.cell(1).locator(PANEL)
    nb.kernel("panel.strengths = {feature: 0.0}; runs_before = panel._ids")
    slider = view.locator(f'.saew-st-row[data-feature="{feature}"] .saew-st-slider')
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    for i in range(20):  # 20 quick grab-and-release moves along the slider, 40-80 ms apart
        nb.page.mouse.click(box["x"] + box["width"] * (0.55 + 0.4 * ((i * 7) % 20) / 20), y)
        time.sleep(0.04 + 0.04 * (i % 2))
    last = box["x"] + box["width"] * 0.83
    nb.page.mouse.click(last, y)  # the 21st, last position: a known place
    final = float(slider.input_value())
    view = wait_done(nb)
    assert kernel_json(nb, "panel.strengths")[str(feature)] == final
    cols = columns(view)
    assert cols[1][0] == f"clamp #{feature} {final:g}×"
    expected = kernel_json(nb, f"lab.generate({PROMPT!r}, steer={{feature: {final}}}, max_new_tokens=16)")
    assert cols[1][1] == expected  # exactly the last setting's text, nothing of the runs it cancelled
    runs = int(nb.kernel("print(panel._ids - runs_before)"))
    assert 1 <= runs <= 21
    # the newest run is the one shown: none of the runs it cancelled wrote after it
    assert view.locator(".saew-st-out").get_attribute("data-run") == nb.kernel("print(panel._ids)")
    nb.screenshot("steer-rapid", view)


def test_stop_keeps_the_text_so_far_and_the_kernel_answers_while_generating(nb):
    view = nb.cell(1).locator(PANEL)
    nb.kernel("panel.max_new_tokens = 400; panel.strengths = {feature: 1.0}")
    view.locator(".saew-st-run").click()
    # this run streaming (the last run's "done · 16 tokens" also says "tokens"); the timeout is a guard
    expect(view.locator(".saew-st-status")).to_contain_text(re.compile(r"generating… · \d+ tokens"), timeout=60_000)
    # The kernel answers an execute_request before the run has ended: were the shell channel blocked by the
    # generation, the answer would come after it and say "done" (how fast it answers: bench/bench_responsiveness.py)
    status, tokens = kernel_json(nb, "[panel.result['status'], panel.result['tokens']]")
    assert status == "running" and tokens > 0, (status, tokens)
    view.locator(".saew-st-stop").click()
    expect(view.locator(".saew-st-status")).to_contain_text("stopped", timeout=30_000)
    r = kernel_json(nb, "panel.result")
    # stopped by the click, after the answer above, before its 400 tokens
    assert r["status"] == "stopped" and tokens <= r["tokens"] < 400 and r["columns"][1]["text"]
    assert view.locator(".saew-st-stop").is_disabled()
    nb.screenshot("steer-stopped", view)
    nb.kernel("panel.max_new_tokens = 16")


def test_errors_appear_in_the_panel(nb):
    view = nb.cell(1).locator(PANEL)
    view.locator(".saew-st-add-input").fill("99999999")
    view.locator(".saew-st-add").click()
    expect(view.locator(".saew-hm-error")).to_contain_text("feature must be a whole number from 0 to")
    nb.kernel("panel.prompt = '   '")
    view.locator(".saew-st-run").click()
    expect(view.locator(".saew-hm-error")).to_contain_text("empty prompt")
    nb.kernel(f"panel.prompt = {PROMPT!r}")
    view.locator(".saew-st-temp").fill("-3")
    view.locator(".saew-st-temp").dispatch_event("change")
    expect(view.locator(".saew-hm-error")).to_contain_text("temperature must be a number from 0 to 10")
    assert nb.kernel("print(panel.temperature)") == "0.0"


def test_sweep_mode_and_dark_theme(nb, feature):
    view = nb.cell(1).locator(PANEL)
    nb.kernel("panel.max_new_tokens = 10")
    view.locator(".saew-st-sweep").check()
    view = wait_done(nb)
    heads = [h for h, _ in columns(view)]
    assert heads[0] == "unsteered" and len(heads) == 5 and all(h.startswith("clamp") for h in heads[1:])
    nb.set_theme(dark=True)
    try:
        bg = view.locator(".saew-st-col").first.evaluate("e => getComputedStyle(e).backgroundColor")
        nb.screenshot("steer-sweep-dark", view)
        rgb = [int(v) for v in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
        assert sum(rgb) < 3 * 100  # a dark panel in the dark theme
    finally:
        nb.set_theme(dark=False)
    assert not nb.page_errors and not nb.dialogs
