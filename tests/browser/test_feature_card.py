"""The feature card in a real JupyterLab: renders a feature's dashboard, quantiles on request, neighbours and a
linked heatmap drive it (traitlet changes reach Python), light and dark, narrow and wide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
TEXT = "The Golden Gate Bridge is a suspension bridge in San Francisco."
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "import json, ipywidgets, traitlets\n"
    "from labs import browser_lab\n"
    "from saewidgets.analysis.dashboards import FILE\n"
    "from saewidgets.lab import DEFAULT_SAE_DIR\n"
    "lab = browser_lab()\n"
    "if not (DEFAULT_SAE_DIR / FILE).exists():  # the random-SAE stand-in: dashboards of a few texts\n"
    "    lab.dashboard(0, texts=[t * 8 for t in [\n"
    f"        {TEXT!r}, 'def add(a, b):\\n    return a + b\\n', 'Once upon a time, a cat slept in the sun. ']],\n"
    "        progress=False)\n"
    f"fa = lab.encode({TEXT!r})\n"
    "top = fa.top(k=5)  # the rarest strong feature of the sentence: a specific one, good to look at\n"
    "density = lab.sae.stats.get('frequency', lab.sae.stats['max_activation'])\n"
    "first = int(min(top.feature, key=lambda f: float(density[f])))",
    "card = lab.feature(first)\ncard",
    f"hm = lab.heatmap({TEXT!r}, feature=first)\n"
    "linked = lab.feature(first)\n"
    "link = traitlets.link((hm, 'feature'), (linked, 'feature'))\n"
    "ipywidgets.VBox([hm, linked])",
    "c = card.card\n"
    "print(json.dumps({'feature': first, 'examples': len(c['examples']['tokens']),\n"
    "                  'neighbours': [n['feature'] for n in c['neighbors']],\n"
    "                  'positive': [t['token'] for t in c['logits']['positive']],\n"
    "                  'negative': [t['token'] for t in c['logits']['negative']]}))",
]
CARD = ".saew-card"
VIEWPORT = (1200, 2400)  # tall enough that screenshots hold a whole card


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("feature-card.ipynb", CELLS, viewport=VIEWPORT)
    nb.run_all(timeout=600)
    nb.cell(1).locator(f"{CARD} .saew-ex").first.wait_for()
    nb.cell(2).locator(f"{CARD} .saew-ex").first.wait_for()
    return nb


@pytest.fixture(scope="module")
def expected(nb):
    return json.loads(nb.output_text(3))


def test_card_shows_the_dashboard(nb, expected):
    view = nb.cell(1).locator(CARD)
    assert view.locator(".saew-card-title").inner_text() == f"Feature #{expected['feature']}"
    assert view.locator(".saew-ex").count() == expected["examples"] >= 1
    assert view.locator(".saew-ex-center .saew-ex-tok").count() == expected["examples"]
    coloured = view.locator(".saew-ex-center .saew-ex-tok").evaluate_all("els => els.map(e => e.style.backgroundColor)")
    assert all(coloured)  # every example's own token carries the feature's colour
    assert view.locator(".saew-logit.saew-pos").count() == len(expected["positive"]) == 10
    assert view.locator(".saew-logit.saew-neg").count() == 10
    logits = view.locator(".saew-logits").inner_text()
    assert expected["positive"][0].replace(" ", "·").strip() in logits
    assert view.locator(".saew-hist-bar").count() >= 1
    assert view.locator(".saew-card-expl .saew-chip, .saew-card-expl .saew-card-words").count() >= 1  # tokens or words
    assert "density" in view.locator(".saew-card-stats").inner_text()
    nb.page.mouse.move(0, 0)
    nb.screenshot("card-light", view)


def test_examples_are_not_clipped_and_every_column_says_what_it_is(nb):
    view = nb.cell(1).locator(CARD)
    # the context after each example's token wraps inside its column: nothing cut off at the card's right edge
    clipped = view.locator(".saew-ex-after").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right >"
        " e.closest('.saew-card').getBoundingClientRect().right + 1).length")
    assert clipped == 0
    heads = view.locator(".saew-logits-head").all_inner_texts()
    assert heads == ["raises ↑", "lowers ↓"]
    expect(view.locator(".saew-panel h4").first).to_contain_text("Activations when firing")
    titles = view.locator(".saew-panel h4").all_inner_texts()
    assert any(t.lower().startswith("neighbours:") for t in titles), titles
    expl = json.loads(nb.kernel("print(json.dumps(card.card['explanation'], default=str))"))
    lines = view.locator(".saew-card-expls > .saew-card-expl, .saew-card-body > .saew-card-expl")
    first = lines.first.inner_text()
    if "method" in expl:   # the newer payload: the best method first, under its label
        label = "explanation" if expl.get("unclear") else expl["label"]
        assert first.startswith(label), first
        assert lines.count() == 1 + len(expl.get("alternatives", []))
        if expl.get("unclear"):
            expect(lines.first.locator(".saew-expl-unclear")).to_have_text("unclear")
    else:
        assert first.startswith("top tokens"), first
    assert "writes words" not in view.inner_text()
    nb.page.mouse.move(0, 0)
    nb.screenshot("card-explanation-neighbours", view)


def test_quantile_examples_on_request(nb):
    view = nb.cell(1).locator(CARD)
    view.locator("[data-action=quantiles]").click()
    view.locator(".saew-q .saew-ex").first.wait_for()
    groups = view.locator(".saew-q-group").all_inner_texts()
    assert groups and groups[0].startswith("quantile ") and groups[-1].startswith("quantile 0%")
    request = json.loads(nb.kernel("import json; print(json.dumps({k: card.quantiles[k] for k in ('id', 'feature')}))"))
    assert request["id"] >= 1 and request["feature"] == int(nb.kernel("print(card.feature)"))
    nb.screenshot("card-quantiles", view)


def test_clicking_a_neighbour_opens_it(nb, expected):
    view = nb.cell(1).locator(CARD)
    neighbour = expected["neighbours"][0]
    view.locator(f'button.saew-nb[data-feature="{neighbour}"]').click()
    expect(view.locator(".saew-card-title")).to_have_text(f"Feature #{neighbour}")
    assert nb.kernel("print(card.feature, card.card['feature'])") == f"{neighbour} {neighbour}"
    assert view.locator(".saew-q .saew-ex").count() == 0  # quantiles belong to the old feature
    nb.screenshot("card-neighbour", view)
    nb.kernel(f"card.feature = {expected['feature']}")  # and back, from Python
    expect(view.locator(".saew-card-title")).to_have_text(f"Feature #{expected['feature']}")


def test_a_feature_clicked_in_the_heatmap_opens_in_the_linked_card(nb):
    box = nb.cell(2)
    heatmap, card = box.locator(".saew-heatmap"), box.locator(CARD)
    heatmap.locator(".saew-tok").nth(5).click()
    button = heatmap.locator(".saew-hm-pinned button.saew-feat").nth(1)
    chosen = int(button.get_attribute("data-feature"))
    button.click()
    expect(card.locator(".saew-card-title")).to_have_text(f"Feature #{chosen}")
    assert nb.kernel("print(hm.feature, linked.feature, linked.card['feature'])") == f"{chosen} {chosen} {chosen}"
    nb.screenshot("card-linked-heatmap", box)
    # the other way: a neighbour clicked in the card recolours the heatmap
    neighbour = int(card.locator("button.saew-nb").first.get_attribute("data-feature"))
    card.locator("button.saew-nb").first.click()
    expect(heatmap.locator(".saew-hm-mode")).to_contain_text(f"feature #{neighbour}")
    assert nb.kernel("print(hm.feature)") == str(neighbour)


def test_out_of_range_feature_shows_the_error(nb):
    view = nb.cell(1).locator(CARD)
    box = view.locator(".saew-hm-pick input")
    box.fill("999999")
    box.press("Enter")
    view.locator(".saew-hm-error", has_text="out of range").wait_for()
    assert "out of range" in nb.kernel("print(card.error)")


def test_resizes_with_the_cell(nb):
    view = nb.cell(1).locator(CARD)
    wide = view.bounding_box()["width"]
    nb.page.set_viewport_size({"width": 640, "height": VIEWPORT[1]})
    try:
        nb.page.wait_for_function("([el, w]) => el.getBoundingClientRect().width < w - 100",
                                  arg=[view.element_handle(), wide])
        assert view.evaluate("el => el.scrollWidth <= el.clientWidth + 1")  # wraps and clips, no sideways scrolling
        nb.screenshot("card-narrow", view)
    finally:
        nb.page.set_viewport_size({"width": VIEWPORT[0], "height": VIEWPORT[1]})


def test_dark_theme(nb):
    view = nb.cell(1).locator(CARD)
    nb.page.mouse.move(0, 0)
    light = view.evaluate("el => getComputedStyle(el.querySelector('.saew-panel')).backgroundColor")
    nb.set_theme(dark=True)
    try:
        nb.page.wait_for_function(
            "([el, light]) => getComputedStyle(el.querySelector('.saew-panel')).backgroundColor !== light",
            arg=[view.element_handle(), light])
        nb.screenshot("card-dark", view)
        nb.screenshot("card-linked-heatmap-dark", nb.cell(2))
    finally:
        nb.set_theme(dark=False)


def test_no_uncaught_errors_in_the_page(nb):
    assert nb.page_errors == []
