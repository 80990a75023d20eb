"""The attribution view in a real JupyterLab on the default model: click a reply token, bars of the features that
pushed it up and down appear and colour the text; a bar opens the feature's card; ablate re-runs and shows the
target's probability before and after (the kernel's numbers); the next-token slot; tooltips; text as text; dark."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
PROMPT = "What is the capital of France?"
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "import json\n"
    "from labs import browser_lab\n"
    "lab = browser_lab()",
    f"box = lab.attribution({PROMPT!r}, max_new_tokens=12)\nbox",
    "v = box.view; v.wait(300)\n"
    "print(json.dumps({'pieces': v.pieces, 'n_prompt': v.n_prompt}))",
    "evil = lab.attribution('<img src=x onerror=alert(1)> <b>bold</b>', reply=' <i>ok</i>', card=False)\nevil",
]
VIEW = ".saew-attr"


def kernel_json(nb, code: str):
    return json.loads(nb.kernel(f"import json; print(json.dumps({code}))", timeout=300))


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("attribution.ipynb", CELLS, viewport=(1200, 2200))
    nb.run_all(timeout=600)
    nb.cell(1).locator(f"{VIEW} .saew-at-bar").first.wait_for(timeout=300_000)
    return nb


@pytest.fixture(scope="module")
def tokens(nb):
    return json.loads(nb.output_text(2))


def paris(tokens) -> int:
    return next(i for i, p in enumerate(tokens["pieces"]) if i >= tokens["n_prompt"] and "Paris" in p)


def wait_result(nb, index: int):
    nb.kernel("v.wait(300)", timeout=320)
    view = nb.cell(1).locator(VIEW)
    expect(view.locator(".saew-at-target-line")).to_contain_text("Target", timeout=60_000)
    assert kernel_json(nb, "[v.result['index'], v.result['status']]") == [index, "done"]
    return view


def test_clicking_a_reply_token_shows_the_features_that_pushed_it(nb, tokens):
    view = nb.cell(1).locator(VIEW)
    i = paris(tokens)
    token = view.locator(f'.saew-at-text .saew-tok[data-i="{i}"]')
    expect(token).to_contain_text("Paris")
    token.click()
    view = wait_result(nb, i)
    expect(view.locator(".saew-at-target-line")).to_contain_text(f"token {i}")
    expect(view.locator(".saew-at-target-line .saew-chip")).to_have_text("·Paris")
    result = kernel_json(nb, "v.result['bars']")
    up = [b["feature"] for b in result if b["attribution"] > 0]
    down = [b["feature"] for b in result if b["attribution"] < 0]
    assert up and down
    shown_up = view.locator(".saew-at-up-col button.saew-at-bar").evaluate_all("els => els.map(e => +e.dataset.feature)")
    shown_down = view.locator(".saew-at-down-col button.saew-at-bar").evaluate_all("els => els.map(e => +e.dataset.feature)")
    assert shown_up == up and shown_down == down  # in Python's order: strongest first
    p = kernel_json(nb, "v.result['target']['probability']")
    expect(view.locator(".saew-at-target-line")).to_contain_text(f"p = {p:.3f}")
    assert view.locator(f'.saew-tok[data-i="{i}"]').evaluate("e => e.classList.contains('saew-at-chosen')")
    # the context is coloured by where the features pushed (total), later tokens are not
    coloured = view.locator(".saew-at-text .saew-tok").evaluate_all(
        "els => els.map(e => e.style.background !== '')")
    assert any(coloured[1:i]) and not any(coloured[i:])
    nb.page.mouse.move(0, 0)
    nb.screenshot("attribution-paris-light", view)


def test_a_bar_opens_its_card_and_ablate_shows_before_and_after(nb, tokens):
    view = nb.cell(1).locator(VIEW)
    i = paris(tokens)
    if kernel_json(nb, "v.result.get('index')") != i:
        view.locator(f'.saew-at-text .saew-tok[data-i="{i}"]').click()
        view = wait_result(nb, i)
    bar = view.locator(".saew-at-up-col button.saew-at-bar").first
    feature = int(bar.get_attribute("data-feature"))
    bar.click()
    expect(bar).to_have_class(re.compile("saew-selected"))
    expect(nb.cell(1).locator(".saew-card .saew-card-title")).to_have_text(f"Feature #{feature}", timeout=120_000)
    assert int(nb.kernel("print(box.feature)")) == feature
    assert int(nb.kernel("print(box.card.feature)")) == feature  # the linked card follows
    expect(view.locator(".saew-at-legend")).to_contain_text(f"feature #{feature}")
    view.locator(".saew-at-ablate").click()
    outcome = view.locator(".saew-at-outcome")
    expect(outcome).to_contain_text(f"ablated #{feature}", timeout=120_000)
    nb.kernel("v.wait(300)", timeout=320)
    r = kernel_json(nb, "v.test_result")
    assert r["feature"] == feature and r["action"] == "ablate" and r["index"] == i
    expect(outcome.locator(".saew-at-before")).to_have_text(f"{r['before']:.3f}")
    expect(outcome.locator(".saew-at-after")).to_have_text(f"{r['after']:.3f}")
    assert r["after"] < r["before"]  # a feature that pushed ' Paris' up: ablated, ' Paris' gets less likely
    # the kernel's numbers are what an independent re-run gives
    again = kernel_json(nb, "__import__('saewidgets.analysis.attribution', fromlist=['x']).intervened("
                            f"lab, v.ids, v._target({i}), None, {{{feature}: 1.0}}, 'ablate')")
    assert again["after"] == pytest.approx(r["after"], rel=1e-5)
    nb.page.mouse.move(0, 0)
    nb.screenshot("attribution-ablate-light", nb.cell(1))


def test_steer_and_the_next_token_slot(nb, tokens):
    view = nb.cell(1).locator(VIEW)
    view.locator(".saew-at-strength").fill("2")
    view.locator(".saew-at-steer").click()
    expect(view.locator(".saew-at-outcome")).to_contain_text("steered to 2× max", timeout=120_000)
    assert kernel_json(nb, "[v.test_result['action'], v.test_result['strength']]") == ["steer", 2.0]
    view.locator(".saew-at-next").click()
    n = len(tokens["pieces"])
    view = wait_result(nb, n)
    expect(view.locator(".saew-at-target-line")).to_contain_text("next token")
    assert view.locator(".saew-at-next").evaluate("e => e.classList.contains('saew-at-chosen')")
    assert view.locator("button.saew-at-bar").count() > 0


def test_tooltip_and_text_rendered_as_text(nb):
    view = nb.cell(1).locator(VIEW)
    view.locator('.saew-at-text .saew-tok[data-i="3"]').hover()
    tip = nb.page.locator(".saew-tooltip:not([hidden])")
    expect(tip).to_contain_text("token 3")
    expect(tip).to_contain_text("click to explain this token")
    nb.page.mouse.move(0, 0)
    evil = nb.cell(3).locator(VIEW)
    expect(evil.locator(".saew-at-text")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(evil.locator(".saew-at-text")).to_contain_text("<i>ok</i>")
    assert evil.locator(".saew-at-text").locator("img, b, i").count() == 0 and not nb.dialogs


def test_dark_theme(nb):
    view = nb.cell(1).locator(VIEW)
    nb.set_theme(dark=True)
    try:
        expect(view.locator("button.saew-at-bar").first).to_be_visible()
        bg = view.locator(".saew-at-test, .saew-hm-text").first.evaluate("e => getComputedStyle(e).backgroundColor")
        rgb = [int(v) for v in re.findall(r"\d+", bg)[:3]]
        assert sum(rgb) < 3 * 100, bg
        nb.page.mouse.move(0, 0)
        nb.screenshot("attribution-dark", nb.cell(1))
    finally:
        nb.set_theme(dark=False)
    assert not nb.page_errors and not nb.dialogs
