"""save_html / lab.export_html on a tiny model: one self-contained file, nothing fetched, text never markup,
what each feature selection changes recorded, links kept, the live widgets left as they were.
(tests/browser/test_export.py opens such pages in Chromium.)"""

from __future__ import annotations

import base64
import gzip
import json
import re

XSS = "<img src=x onerror=alert(1)> </script><script>alert(1)</script>"


def saved(path) -> dict:
    html = path.read_text()
    blob = re.search(r'<script type="application/octet-stream" id="saew-saved">([^<]*)</script>', html).group(1)
    return json.loads(gzip.decompress(base64.b64decode(blob)))


def test_one_file_with_nothing_to_fetch(tiny_lab, tmp_path):
    path = tiny_lab.heatmap("hello world").save_html(tmp_path / "page.html", title=XSS)
    html = path.read_text()
    assert list(tmp_path.iterdir()) == [path]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything"
    assert "<img" not in html and html.count("<script") == 2  # the title is escaped; data and loader only
    assert "&lt;img src=x" in html


def test_each_selection_is_recorded_and_the_widget_is_left_alone(tiny_lab, tmp_path):
    w = tiny_lab.heatmap("hello world", feature=3)
    before = w.get_state()
    data = saved(w.save_html(tmp_path / "page.html", features=[3, 5, 7]))
    assert w.get_state() == before
    (model,) = data["models"]
    assert set(model["recorded"]) == {"null", "3", "5", "7"}
    assert "feature_values" in model["recorded"]["5"]
    assert model["state"]["feature"] == 3 and data["recorded_features"] == 3
    assert model["bundle"] in data["bundles"] and "render" in data["bundles"][model["bundle"]]


def test_the_explorer_keeps_its_links_and_its_selection(tiny_lab, tmp_path):
    e = tiny_lab.explorer("hello world")
    e.feature = 4
    button = e.steer_button.get_state()
    data = e.save_html(tmp_path / "explorer.html", features=[4, 9])
    assert e.feature == 4 and e.card.feature == 4 and e.steer_button.get_state() == button
    page = saved(data)
    ids = {m["id"] for m in page["models"]}
    assert page["links"] and all(s in ids and t in ids for s, _, t, _ in page["links"])
    card = next(m for m in page["models"] if "card" in m["state"])
    assert card["recorded"]["9"]["card"]["feature"] == 9  # the card's own Python made it
    fmap = next(m for m in page["models"] if "points" in m["state"])
    assert fmap["neighbor_table"]["k"] > 0 and len(fmap["search_index"]) == tiny_lab.sae.d_sae


def test_the_panel_is_marked_as_recorded(tiny_lab, tmp_path):
    panel = tiny_lab.steer([1], prompt="hi")
    (model,) = saved(panel.save_html(tmp_path / "panel.html"))["models"]
    assert model["state"]["notice"].startswith("recorded")
