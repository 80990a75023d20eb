"""The token heatmap in a real JupyterLab: renders, colours, tooltips, clicks reach Python, no XSS."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
XSS = "Look: <img src=x onerror=alert(1)> and <script>alert(1)</script> done"
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "from labs import browser_lab\n"
    "from saewidgets.widgets import codecs, heatmap\n"
    "lab = browser_lab()",
    'w = heatmap(lab, ["The Golden Gate Bridge is in San Francisco.", "def add(a, b):\\n    return a + b"])\nw',
    f"xss = heatmap(lab, {XSS!r})\nxss",
    'empty = heatmap(lab, "")\nempty',
    "import json\n"
    "print(json.dumps({'tokens': [p['tokens'] for p in w.prompts], 'xss': xss.prompts[0]['tokens']}))",
]
TOKEN = ".saew-tok"


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("heatmap.ipynb", CELLS)
    nb.run_all()
    nb.cell(1).locator(TOKEN).first.wait_for()
    nb.cell(2).locator(TOKEN).first.wait_for()
    return nb


@pytest.fixture(scope="module")
def expected(nb):
    return json.loads(nb.output_text(4))


def background(locator) -> list[str]:
    return locator.evaluate_all("els => els.map(e => e.style.backgroundColor)")


def test_renders_every_token_as_the_text_reads(nb, expected):
    view = nb.cell(1).locator(".saew-heatmap")
    prompts = view.locator(".saew-hm-prompt")
    assert prompts.count() == 2
    for n, tokens in enumerate(expected["tokens"]):
        assert prompts.nth(n).locator(TOKEN).count() == len(tokens)
    code = prompts.nth(1).locator(".saew-hm-text").inner_text()
    assert "def add(a, b):" in code and "return a + b" in code and "↵" in code
    assert "saew-sink" in prompts.nth(0).locator(TOKEN).first.get_attribute("class")
    nb.screenshot("heatmap-light", view)


def test_colours_present_with_a_legend(nb):
    view = nb.cell(1).locator(".saew-heatmap")
    colours = background(view.locator(f"{TOKEN}:not(.saew-sink)"))
    assert sum(bool(c) for c in colours) >= len(colours) // 2
    assert len(set(colours)) >= 3  # a scale, not one colour
    assert background(view.locator(f"{TOKEN}.saew-sink")) == ["", ""]
    assert view.locator(".saew-legend .saew-legend-bar").is_visible()


def test_hover_shows_the_tokens_top_features(nb, expected):
    view = nb.cell(1).locator(".saew-heatmap")
    view.locator(TOKEN).nth(3).hover()
    tooltip = nb.page.locator(".saew-tooltip:visible")
    tooltip.wait_for()
    text = tooltip.inner_text()
    shown = expected["tokens"][0][3].replace(" ", "·")
    assert shown in text and "token 3" in text
    assert re.search(r"#\d+\s+\d+\.\d+", text), text  # feature id and activation
    assert tooltip.locator(".saew-feat").count() >= 1
    nb.screenshot("heatmap-tooltip", nb.page)
    nb.page.mouse.move(0, 0)
    expect(nb.page.locator(".saew-tooltip:visible")).to_have_count(0)


def test_dense_features_rank_after_rare_ones_and_bars_say_what_they_measure(nb):
    """A feature firing on most tokens (density > 10%) comes after the specific ones, under its own heading, with its
    density; every list says what its bars are."""
    found = json.loads(nb.kernel(
        "import json, torch\n"
        "freq = torch.as_tensor(lab.stats['frequency']).float()\n"
        "ids = codecs.decode(w.prompts[0]['top_ids'])\n"
        "hit = None\n"
        "for i, row in enumerate(ids):\n"
        "    fs = [int(f) for f in row if f >= 0]\n"
        "    dense = [f for f in fs if freq[f] > 0.1]; rare = [f for f in fs if freq[f] <= 0.1]\n"
        "    if dense and rare and fs.index(dense[0]) < fs.index(rare[0]):\n"
        "        hit = {'token': i, 'dense': dense[0], 'rare': rare[0], 'density': float(freq[dense[0]])}; break\n"
        "print(json.dumps(hit))") or "null")
    if found is None:
        pytest.skip("no token of this text has a dense feature stronger than a rare one")
    view = nb.cell(1).locator(".saew-heatmap")
    view.locator(TOKEN).nth(found["token"]).hover()
    tooltip = nb.page.locator(".saew-tooltip:visible")
    tooltip.wait_for()
    order = [int(f) for f in tooltip.locator(".saew-feat").evaluate_all("els => els.map(e => e.dataset.feature)")]
    assert order.index(found["rare"]) < order.index(found["dense"]), order   # raw activation put the dense one first
    dense = tooltip.locator(f'.saew-feat[data-feature="{found["dense"]}"]')
    assert "saew-dense" in dense.get_attribute("class")
    assert "dense: fires on" in dense.inner_text()
    expect(tooltip.locator(".saew-feats-group")).to_contain_text("fire on most tokens")
    expect(tooltip.locator(".saew-feats-caption")).to_have_text("bar = activation as share of the feature's maximum")
    expect(view.locator(".saew-hm-bar")).to_contain_text("colour = each token's strongest non-dense feature's activation")
    nb.screenshot("heatmap-tooltip-dense-apart", nb.page)
    nb.page.mouse.move(0, 0)


def test_click_token_then_feature_sets_the_python_traitlet_and_recolours(nb):
    view = nb.cell(1).locator(".saew-heatmap")
    tokens = view.locator(TOKEN)
    before = background(tokens)
    tokens.nth(4).click()
    pinned = view.locator(".saew-hm-pinned")
    pinned.wait_for()
    feature = pinned.locator("button.saew-feat").nth(1)
    chosen = int(feature.get_attribute("data-feature"))
    feature.click()
    assert nb.kernel("print(w.feature)") == str(chosen)
    nb.page.wait_for_function(
        "([el, before]) => Array.from(el.querySelectorAll('.saew-tok')).some((t, i) => t.style.backgroundColor !== before[i])",
        arg=[view.element_handle(), before])
    assert view.locator(".saew-hm-mode").inner_text().startswith(f"Colour: feature #{chosen}")
    assert pinned.locator(f'button.saew-feat.saew-selected[data-feature="{chosen}"]').count() == 1
    nb.screenshot("heatmap-feature-selected", view)

    # and back: Python sets the feature, the view follows
    nb.kernel("w.feature = None")
    view.locator(".saew-hm-mode", has_text="strongest feature").wait_for()
    nb.page.wait_for_function(
        "([el, before]) => Array.from(el.querySelectorAll('.saew-tok')).every((t, i) => t.style.backgroundColor === before[i])",
        arg=[view.element_handle(), before])


def test_out_of_range_feature_from_the_browser_shows_the_error(nb):
    view = nb.cell(1).locator(".saew-heatmap")
    box = view.locator(".saew-hm-pick input")
    box.fill("999999")
    box.press("Enter")
    view.locator(".saew-hm-error", has_text="out of range").wait_for()
    feature, error = nb.kernel("print(w.feature); print(w.error)").splitlines()
    assert feature == "None" and "out of range" in error


def test_markup_in_a_prompt_is_shown_as_text_and_runs_nothing(nb, expected):
    view = nb.cell(2).locator(".saew-heatmap")
    text = view.locator(".saew-hm-text")
    assert text.inner_text().replace("\n", "").endswith(XSS)
    assert view.locator(TOKEN).count() == len(expected["xss"])
    for tag in ("img", "script"):
        assert view.locator(tag).count() == 0
        assert nb.page.locator(f".jp-OutputArea {tag}").count() == 0
    view.locator(TOKEN).nth(5).hover()  # tooltips render token text too
    nb.page.locator(".saew-tooltip:visible").wait_for()
    assert nb.page.locator(".saew-tooltip img, .saew-tooltip script").count() == 0
    assert nb.dialogs == []
    assert nb.page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0


def test_empty_text_shows_a_message(nb):
    view = nb.cell(3).locator(".saew-heatmap")
    expect(view.locator(".saew-notice")).to_contain_text("Empty text")
    assert view.locator(TOKEN).count() == 0


def test_resizes_with_the_cell(nb):
    view = nb.cell(1).locator(".saew-heatmap")
    wide = view.bounding_box()["width"]
    nb.page.set_viewport_size({"width": 640, "height": 900})
    try:
        nb.page.wait_for_function("([el, w]) => el.getBoundingClientRect().width < w - 100",
                                  arg=[view.element_handle(), wide])
        assert view.evaluate("el => el.scrollWidth <= el.clientWidth + 1")  # wraps, no sideways scrolling
        nb.screenshot("heatmap-narrow", view)
    finally:
        nb.page.set_viewport_size({"width": 1200, "height": 900})


def test_dark_theme(nb):
    view = nb.cell(1).locator(".saew-heatmap")
    nb.page.mouse.move(0, 0)  # no tooltip in the picture
    light = view.evaluate("el => getComputedStyle(el.querySelector('.saew-hm-text')).backgroundColor")
    nb.set_theme(dark=True)
    try:
        nb.page.wait_for_function(
            "([el, light]) => getComputedStyle(el.querySelector('.saew-hm-text')).backgroundColor !== light",
            arg=[view.element_handle(), light])
        nb.screenshot("heatmap-dark", view)
    finally:
        nb.set_theme(dark=False)


def test_no_uncaught_errors_in_the_page(nb):
    assert nb.page_errors == []
