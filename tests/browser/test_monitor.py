"""The monitor's live timeline in a real JupyterLab on the default model: while a stream runs in the background
the view grows token by token (several redraws, each with more tokens), the alert and the action taken show, the
tokens are text; light and dark screenshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
PROMPT = "Tell me about your dog and what it likes to do."
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "import json\n"
    "from labs import browser_lab\n"
    "lab = browser_lab()\n"
    "feature = int(lab.search('dog').feature.iloc[0])\n"
    "top = float(lab.stats['max_activation'][feature])\n"
    "mon = lab.monitor([feature], threshold=0.25 * top, action='steer', steer={feature: 0.0}, method='calibrate')",
    "view = mon.view()\nview",
    "print(json.dumps({'feature': feature}))",
]
VIEW = ".saew-monitor"

# Records, after each redraw, how many tokens the view shows and its status (root.__saewLog).
RECORD = """(root) => {
  const log = (root.__saewLog = []);
  const snap = () => {
    const entry = { tokens: root.querySelectorAll('.saew-mon-tok').length, status: root.dataset.status,
                    alerts: root.querySelectorAll('.saew-mon-alert').length };
    if (JSON.stringify(log.at(-1)) !== JSON.stringify(entry)) log.push(entry);
  };
  snap();
  new MutationObserver(snap).observe(root, { subtree: true, childList: true, attributes: true });
}"""


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("monitor.ipynb", CELLS, viewport=(1100, 1000))
    nb.run_all(timeout=600)
    nb.cell(1).locator(VIEW).wait_for()
    return nb


def test_the_timeline_streams_with_generation_and_shows_the_action(nb):
    feature = json.loads(nb.output_text(2))["feature"]
    view = nb.cell(1).locator(VIEW)
    expect(view.locator(".saew-mon-status")).to_contain_text("waiting")
    view.evaluate(RECORD)
    nb.kernel(f"stream = lab.stream({PROMPT!r}, max_new_tokens=40, monitor=mon)")
    nb.page.wait_for_function("(root) => root.__saewLog.some((e) => e.status === 'done')",
                              arg=view.element_handle(), timeout=300_000, polling=100)
    log = view.evaluate("r => r.__saewLog")
    running = [e["tokens"] for e in log if e["status"] == "running" and e["tokens"]]
    # streamed: the page showed several growing timelines before the end, not one at the end
    assert len(set(running)) >= 3, log
    assert running == sorted(running)
    done = kernel_json(nb, "{'T': len(view.tokens), 'events': len(mon.events), 'steered': bool(mon.frame().steered.any())}")
    assert view.locator(".saew-mon-tok").count() == done["T"]
    texts = view.locator(".saew-mon-tok").evaluate_all("els => els.map(e => e.textContent)")
    assert texts == kernel_json(nb, "view.tokens")
    assert view.locator(f'.saew-mon-spark[data-feature="{feature}"] .saew-mon-threshold').count() == 1
    if done["events"]:
        expect(view.locator(".saew-mon-alert").first).to_contain_text("steer")
        assert done["steered"]
    assert nb.errors() == []
    nb.page.mouse.move(0, 0)
    nb.screenshot("monitor-light", view)
    nb.set_theme(dark=True)
    nb.screenshot("monitor-dark", view)
    nb.set_theme(dark=False)


def kernel_json(nb, code: str):
    return json.loads(nb.kernel(f"import json; print(json.dumps({code}))", timeout=300))
