"""The steering panel in a real JupyterLab on the default model: a slider drag streams steered text beside the
unsteered, 20 rapid moves end with exactly the last setting's text, Stop stops, the kernel answers while
generating, errors show in the panel, light and dark."""

from __future__ import annotations

import json
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


def columns(view) -> list[tuple[str, str]]:
    heads = view.locator(".saew-st-head").all_inner_texts()
    texts = view.locator(".saew-st-text").evaluate_all("els => els.map(e => e.textContent)")
    return list(zip(heads, texts))


def test_dragging_a_slider_streams_steered_beside_unsteered(nb, feature):
    view = nb.cell(1).locator(PANEL)
    slider = view.locator(f'.saew-st-row[data-feature="{feature}"] .saew-st-slider')
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    nb.page.mouse.move(box["x"] + box["width"] / 2, y)  # 0 on the clamp's -3..3 range
    nb.page.mouse.down()
    for frac in (0.6, 0.7, 0.8):  # drag to about 1.8x the max activation
        nb.page.mouse.move(box["x"] + box["width"] * frac, y, steps=4)
    nb.page.mouse.up()
    expect(view.locator(".saew-st-status")).to_contain_text("generating", timeout=10_000)
    partial = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = view.locator(".saew-st-status").inner_text()
        cols = columns(view)
        if len(cols) == 2 and cols[1][1]:
            partial.add(cols[1][1])
        if status.startswith("done"):
            break
        time.sleep(0.05)
    cols = columns(view)
    strength = kernel_json(nb, "panel.strengths")[str(feature)]
    assert 1.2 < strength < 2.5
    assert [h for h, _ in cols] == ["unsteered", f"clamp #{feature} {strength:g}×"]
    assert len(partial) >= 2, "the steered text should arrive in pieces, not at once"
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
    nb.screenshot("steer-rapid", view)


def test_stop_keeps_the_text_so_far_and_the_kernel_answers_while_generating(nb):
    view = nb.cell(1).locator(PANEL)
    nb.kernel("panel.max_new_tokens = 400; panel.strengths = {feature: 1.0}")
    view.locator(".saew-st-run").click()
    expect(view.locator(".saew-st-status")).to_contain_text("tokens", timeout=60_000)
    t = time.perf_counter()
    status = kernel_json(nb, "panel.result['status']")
    assert status == "running" and time.perf_counter() - t < 3  # the shell channel is not blocked
    view.locator(".saew-st-stop").click()
    expect(view.locator(".saew-st-status")).to_contain_text("stopped", timeout=30_000)
    r = kernel_json(nb, "panel.result")
    assert r["status"] == "stopped" and 0 < r["tokens"] < 400 and r["columns"][1]["text"]
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
