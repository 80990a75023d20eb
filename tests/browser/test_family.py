"""The family view and the map's width switch in a real JupyterLab on the default's three widths (1,024, 2,048 and
16,384 latents): the tree draws every node of ``lab.family``; hovering a node shows its top examples (as text);
clicking one opens its card (in its own SAE); ⟲ re-roots the tree; the map switches width and keeps the selection
on the best-matching feature; dark theme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
CELLS = [
    f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    "import json\n"
    "import numpy as np\n"
    "from labs import browser_lab\n"
    "lab = browser_lab()\n"
    "fam = lab.feature_family()\n"
    "children = np.bincount(fam.best_in(1, 0)[0][fam.best_in(1, 0)[1] >= 0.4], minlength=fam.width(0))\n"
    "P = int(np.argmax(children))  # the 1,024-latent feature that splits most\n"
    "v = lab.family_view(P, sae='default-1k')",
    "v",
    "m = lab.map(progress=False)\nm",
]
VIEW = ".saew-fam"


def kernel_json(nb, code: str):
    return json.loads(nb.kernel(f"print(json.dumps({code}))", timeout=300))


@pytest.fixture(scope="module")
def nb(open_notebook):
    nb = open_notebook("family.ipynb", CELLS, viewport=(1200, 2400))
    nb.run_all(timeout=600)
    nb.cell(1).locator(f"{VIEW} .saew-fam-node").first.wait_for(timeout=300_000)
    return nb


def test_the_tree_draws_every_node_of_the_family(nb):
    view = nb.cell(1).locator(VIEW)
    frame = kernel_json(nb, "lab.family(P, sae='default-1k')[['sae', 'feature', 'relation']].values.tolist()")
    nodes = view.locator(".saew-fam-node")
    expect(nodes).to_have_count(len(frame))
    assert frame[0][0] == "default-1k" and frame[0][2] == "self"
    assert sum(r[2] == "child" for r in frame) >= 2  # the feature that splits most has children to draw
    cols = view.locator(".saew-fam-cols").inner_text()
    assert "1,024 latents" in cols and "2,048 latents" in cols and "16,384 latents" in cols
    ids = nodes.locator(".saew-fam-id").all_inner_texts()
    assert [int(t.split("·")[0].strip().lstrip("#")) for t in ids] == [r[1] for r in frame]
    # children sit in the second column, right of their parent
    boxes = [nodes.nth(i).bounding_box() for i in range(len(frame))]
    first_child = next(i for i, r in enumerate(frame) if r[2] == "child")
    assert boxes[first_child]["x"] > boxes[0]["x"] + 150
    assert view.locator("svg path.saew-fam-edge").count() == len(frame) - 1
    assert not nb.page_errors
    nb.page.mouse.move(0, 0)
    nb.screenshot("family-tree-light", view)


def test_hover_shows_a_nodes_top_examples_as_text(nb):
    view = nb.cell(1).locator(VIEW)
    node = view.locator(".saew-fam-node").nth(1)
    node.hover()
    tip = nb.page.locator(".saew-tooltip:not([hidden])")
    expect(tip).to_be_visible()
    examples = kernel_json(nb, "v.tree.tree['nodes'][1]['examples']")
    assert examples, "a child with no examples in its dashboards"
    lines = tip.locator(".saew-fam-ex")
    expect(lines).to_have_count(len(examples))
    first = lines.first
    assert first.text_content() == "".join(examples[0]["tokens"][:examples[0]["center"]]) + \
        first.locator("b").text_content() + "".join(examples[0]["tokens"][examples[0]["center"] + 1:])
    # only text nodes and the one <b> for the centre token: no markup from the examples
    assert first.evaluate("e => [...e.children].every(c => c.tagName === 'B')")
    nb.screenshot("family-tree-hover", nb.cell(1))
    nb.page.mouse.move(0, 0)


def test_click_opens_the_nodes_card_and_reroot_shows_its_family(nb):
    view = nb.cell(1).locator(VIEW)
    nodes = kernel_json(nb, "v.tree.tree['nodes']")
    i = next(k for k, n in enumerate(nodes) if n["relation"] == "child")
    child = nodes[i]
    view.locator(".saew-fam-node").nth(i).click()
    expect(nb.cell(1).locator(".saew-card .saew-card-title")).to_have_text(f"Feature #{child['feature']}",
                                                                           timeout=120_000)
    assert kernel_json(nb, "v.selected") == {"member": 1, "feature": child["feature"]}
    assert kernel_json(nb, "v.card(1).feature") == child["feature"]
    expect(nb.cell(1)).to_contain_text("default-2k (2,048 latents)")
    expect(view.locator(".saew-fam-node.saew-open")).to_have_count(1)
    view.locator(".saew-fam-node").nth(i).locator(".saew-fam-root").click()
    expect(view.locator(".saew-fam-title")).to_contain_text(f"#{child['feature']} (default-2k)", timeout=120_000)
    assert kernel_json(nb, "v.tree.tree['query']") == {"member": 1, "feature": child["feature"]}
    frame = kernel_json(nb, f"lab.family({child['feature']}, sae='default-2k').relation.tolist()")
    assert frame[:2] == ["ancestor", "self"]
    expect(view.locator(".saew-fam-node")).to_have_count(len(frame))
    nb.set_theme(dark=True)
    nb.page.mouse.move(0, 0)
    nb.screenshot("family-tree-dark", view)
    nb.set_theme(dark=False)


def test_the_map_switches_width_and_keeps_the_best_match_selected(nb):
    cell = nb.cell(2)
    cell.locator(".saew-map").first.wait_for(timeout=300_000)
    nb.kernel("m.feature = 14703")
    expect(cell.locator(".saew-card .saew-card-title")).to_have_text("Feature #14703", timeout=120_000)
    best = kernel_json(nb, "int(fam.best_in(2, 1)[0][14703])")
    cell.get_by_role("button", name="2,048 latents").click()
    expect(cell.locator(".saew-card .saew-card-title")).to_have_text(f"Feature #{best}", timeout=300_000)
    assert kernel_json(nb, "m.feature") == best
    assert kernel_json(nb, "m.map.d_sae") == 2048
    expect(cell.locator(".saew-map")).to_have_attribute("data-points", "2048", timeout=120_000)
    nb.page.mouse.move(0, 0)
    nb.screenshot("map-width-2k", cell)
    cell.get_by_role("button", name="16,384 latents").click()
    back = kernel_json(nb, "m.feature")
    assert back == kernel_json(nb, f"int(fam.best_in(1, 2)[0][{best}])")
    assert not nb.page_errors
