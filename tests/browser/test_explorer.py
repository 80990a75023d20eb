"""lab.explorer() in a real JupyterLab on the default model: type a text, see its heatmap, click a token and a
feature, read its card, see it selected on the map, and put it on a steering slider."""

from __future__ import annotations

from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "from labs import browser_lab\n"
    "lab = browser_lab()",
    "e = lab.explorer('Hello there.')\ne",
]
TEXT = "The ocean waves crashed on the beach."


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("explorer.ipynb", CELLS, viewport=(1200, 2600))
    nb.run_all(timeout=600)
    nb.cell(1).locator(".saew-heatmap .saew-tok").first.wait_for()
    return nb


def test_type_show_click_read_map_steer(nb):
    box = nb.cell(1)
    box.get_by_placeholder("Type a text, then Show").fill(TEXT)
    box.get_by_role("button", name="Show").click()
    expect(box.locator(".saew-heatmap")).to_contain_text("ocean")
    n_tokens = int(nb.kernel("print(len(e.heatmap.prompts[0]['tokens']))"))
    assert box.locator(".saew-heatmap .saew-tok").count() == n_tokens
    assert box.locator(".saew-heatmap .saew-tok").nth(1).inner_text().strip() == "The"

    box.locator(".saew-heatmap .saew-tok").nth(2).click()          # " ocean": pin its features
    button = box.locator(".saew-heatmap .saew-hm-pinned button.saew-feat").first
    chosen = int(button.get_attribute("data-feature"))
    button.click()                                                    # and select the strongest
    expect(box.locator(".saew-card .saew-card-title")).to_have_text(f"Feature #{chosen}")
    assert nb.kernel("print(e.feature, e.card.feature, e.map.feature, e.heatmap.feature)") == f"{chosen} " * 3 + str(chosen)
    expect(box.locator(".saew-map")).to_have_attribute("data-neighbours", "10")  # the map highlights its neighbours

    nb.page.mouse.move(0, 0)
    nb.screenshot("explorer", box)

    # "Steer #N" sits at the top, its panel far below: in a normal-height window the panel is out of sight until
    # the click scrolls it into view; the click also starts a generation with the new slider
    nb.page.set_viewport_size({"width": 1200, "height": 900})
    try:
        steer = box.get_by_role("button", name=f"Steer #{chosen}")
        steer.scroll_into_view_if_needed()
        panel = box.locator(".saew-steer")
        in_view = "el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight - 100; }"
        assert not panel.evaluate(in_view)
        assert panel.get_attribute("data-revealed") is None
        runs_before = int(nb.kernel("print(e.panel.result.get('id', 0))"))
        steer.click()
        expect(box.locator(f'.saew-st-row[data-feature="{chosen}"]')).to_have_count(1)
        expect(panel).to_have_attribute("data-revealed", "1")
        nb.page.wait_for_function(f"el => ({in_view})(el)", arg=panel.element_handle())
        assert nb.kernel("print(list(e.panel.strengths))") == f"[{chosen}]"
        # the generation that started after the slider was added: its steered column names the feature
        expect(panel.locator(".saew-st-out")).to_contain_text(f"#{chosen}")
        assert int(nb.kernel("print(e.panel.result['id'])")) == runs_before + 1
        nb.kernel("e.panel.wait(300)")
        expect(panel.locator(".saew-st-status")).not_to_contain_text("running")
        nb.screenshot("explorer-steer-revealed", nb.page)
    finally:
        nb.page.set_viewport_size({"width": 1200, "height": 2600})


def test_prompt_boxes_say_what_they_feed(nb):
    box = nb.cell(1)
    expect(box.locator(".widget-label", has_text="Text to analyse")).to_have_count(1)
    expect(box.locator(".saew-st-prompt-label")).to_have_text("Prompt to generate from: steered beside unsteered")
