"""Saved HTML pages (widget.save_html, lab.export_html) opened from file:// in Chromium, with no kernel and no
network: the explorer's views hover, pin, select, follow each other and search; the steering panel shows what
it generated, marked as recorded; token text stays text; the files stay within their size budgets."""

from __future__ import annotations

import re

import pytest

from .harness import ARTIFACTS

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TEXT = "The Golden Gate Bridge is a suspension bridge in San Francisco."
XSS = "Look: <img src=x onerror=alert(1)> and <script>alert(1)</script> done"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def pages(default_lab, tmp_path_factory):
    lab = default_lab
    out = tmp_path_factory.mktemp("saved")
    panel = lab.steer([8746], prompt="Tell me about your weekend.", max_new_tokens=6)
    panel.run()
    panel.wait()
    return {
        "explorer": lab.export_html(out / "explorer.html", text=TEXT),
        "heatmap_card": lab.explorer(TEXT, show_map=False, steer=False).save_html(out / "heatmap-card.html"),
        "map": lab.export_html(out / "map.html", lab.map()),
        "xss": lab.heatmap(XSS).save_html(out / "xss.html"),
        "panel": panel.save_html(out / "panel.html"),
        "panel_texts": [c["text"] for c in panel.result["columns"]],
    }


@pytest.fixture
def open_page(chromium):
    contexts = []

    def open_(path, scheme="light"):
        context = chromium.new_context(viewport={"width": 1200, "height": 2000}, color_scheme=scheme)
        contexts.append(context)
        page = context.new_page()
        page.problems = []  # requests off the page, page errors, dialogs, console errors
        page.on("request", lambda r: r.url.split(":")[0] in ("file", "blob", "data") or page.problems.append(r.url))
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.body.dataset.saewReady", timeout=60_000)
        assert page.evaluate("document.body.dataset.saewReady") == "true", page.inner_text("body")
        return page

    yield open_
    for context in contexts:
        context.close()


def test_the_explorer_works_without_a_kernel(pages, open_page):
    page = open_page(pages["explorer"])
    heatmap, card, fmap = page.locator(".saew-heatmap"), page.locator(".saew-card"), page.locator(".saew-map")
    heatmap.locator(".saew-tok").nth(3).hover()                            # hover: the token's top features
    expect(page.locator(".saew-tooltip:visible")).to_contain_text("Gate")
    heatmap.locator(".saew-tok").nth(3).click()                            # click: pin them
    button = heatmap.locator(".saew-hm-pinned button.saew-feat").first
    chosen = int(button.get_attribute("data-feature"))
    button.click()                                                         # select the strongest
    expect(card.locator(".saew-card-title")).to_have_text(f"Feature #{chosen}")  # the card follows (jslink)
    expect(fmap).to_have_attribute("data-neighbours", "10")                # the map shows its neighbours
    recorded = page.evaluate("() => [...window.saewPage.models.values()].flatMap(m => Object.keys(m.saved.recorded ?? {}))")
    shown = [int(b.get_attribute("data-feature")) for b in card.locator("button[data-feature]").all()]
    others = [f for f in shown if str(f) in recorded]
    assert others, f"none of the card's neighbours {shown} was recorded"
    other = others[0]
    card.locator(f'button[data-feature="{other}"]').click()                 # a neighbour in the card
    expect(card.locator(".saew-card-title")).to_have_text(f"Feature #{other}")
    fmap.get_by_placeholder(re.compile("search")).fill("bridge")           # search the shipped explanations
    fmap.get_by_placeholder(re.compile("search")).press("Enter")
    expect(fmap).not_to_have_attribute("data-matches", "0")
    assert int(fmap.get_attribute("data-matches")) > 0
    assert page.problems == []
    page.screenshot(path=str(ARTIFACTS / "export" / "explorer.png"), full_page=True)


def test_a_feature_not_recorded_says_so(pages, open_page):
    page = open_page(pages["heatmap_card"])
    card = page.locator(".saew-card")
    card.get_by_placeholder("#").fill("3")
    card.get_by_placeholder("#").press("Enter")
    expect(card.locator(".saew-hm-error")).to_contain_text("not recorded in this saved page")


def test_token_text_is_never_markup(pages, open_page):
    page = open_page(pages["xss"])
    text = page.locator(".saew-heatmap .saew-hm-text").inner_text()
    assert "<img" in text and "<script>" in text                          # shown as the text it is
    assert page.locator("img").count() == 0 and page.locator(".saew-heatmap script").count() == 0
    assert page.problems == []


def test_the_panel_shows_its_recorded_generations(pages, open_page):
    page = open_page(pages["panel"])
    panel = page.locator(".saew-steer")
    expect(panel).to_contain_text("recorded")
    for text in pages["panel_texts"]:
        expect(panel).to_contain_text(text.strip())
    panel.get_by_role("button", name="Generate").click()
    expect(panel).to_contain_text("saved page with no kernel")


@pytest.mark.parametrize("name, budget", [("heatmap_card", 2 * MB), ("map", 3 * MB), ("explorer", 3 * MB)])
def test_within_the_size_budget(pages, name, budget):
    size = pages[name].stat().st_size
    print(f"{name}: {size / MB:.2f} MB")
    assert size <= budget, f"{name}.html is {size / MB:.2f} MB, over its {budget / MB:.0f} MB budget"
