"""Static HTML: ``widget.save_html(path)`` and ``lab.export_html(path)`` write ONE self-contained file in which
the views work without a kernel (a handout, a figure, a finding sent to a colleague).

The page runs each view's own ES module (the same bundle as in Jupyter) against a model that lives in the page
(``js/src/export_page.ts``). Nothing is fetched: bundles and data are inline, gzip-compressed. What a kernel
would answer is recorded here, by the widgets' own Python code:

- for each feature the views showed (the heatmap's features, the card's feature and its neighbours), the
  traits each view set when that feature was selected (its column in the heatmap, its card);
- the map keeps every feature's decoder neighbours and each feature's explanation words, so a click anywhere
  highlights neighbours and search runs in the page;
- links between views (``ipywidgets.jslink`` in the explorer) are kept, so the card follows the selection;
- the steering panel keeps the generations it made, marked as recorded; asking for more says a kernel is needed.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import html
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable

import anywidget
import ipywidgets
import numpy as np

from . import codecs
from .bundle import esm

MAX_FEATURES = 128  # recorded features per page by default (a card is ~10 kB gzipped): within the size budgets
_PRIVATE = {"layout", "tabbable", "tooltip"}


def save_html(widgets, path: str | Path, *, title: str | None = None, features: Iterable[int] | None = None,
              max_features: int = MAX_FEATURES) -> Path:
    """Write ``widgets`` (one widget, an explorer, or a list of them) as one self-contained HTML file.

    ``features``: the features whose views are recorded (default: those the views show, at most
    ``max_features``); selecting any other one in the page says it was not recorded.
    """
    roots = list(widgets) if isinstance(widgets, (list, tuple)) else [widgets]
    views = [v for r in roots for v in _views(r)]
    if not views:
        raise ValueError("save_html needs at least one saewidgets view (heatmap, feature card, map, steering panel).")
    links = [link for r in roots for link in getattr(r, "_jslinks", [])]
    chosen = list(dict.fromkeys(_features(views) if features is None else [int(f) for f in features]))
    recorded, n = _record(roots, views, chosen[:max_features], grow=max_features if features is None else 0)
    saved = {"bundles": {}, "models": [], "views": [], "links": [], "recorded_features": n}
    for view in views:
        code = view._esm if isinstance(view._esm, str) else Path(str(view._esm)).read_text()  # text, or a file
        key = hashlib.sha1(code.encode()).hexdigest()[:12]
        saved["bundles"][key] = code
        model = {"id": view.model_id, "bundle": key, "state": _jsonable(_state(view))}
        if view.model_id in recorded:
            model["recorded"] = _jsonable(recorded[view.model_id])
        if _is(view, "FeatureMap"):
            model.update(_map_tables(view))
        if _is(view, "SteerPanel"):
            made = (view.result or {}).get("columns")
            model["state"]["notice"] = " · ".join(filter(None, [
                "recorded: the generations below were made in the notebook when this page was saved" if made else
                "recorded: no generations had been made when this page was saved", model["state"].get("notice", "")]))
        saved["models"].append(model)
        saved["views"].append(view.model_id)
    for link in links:
        (source, s_trait), (target, t_trait) = link.source, link.target
        saved["links"].append([source.model_id, s_trait, target.model_id, t_trait])
    for root in roots:  # a container without browser links of its own (lab.map()'s map and card) shares one selection
        if isinstance(root, ipywidgets.Box) and not hasattr(root, "_jslinks"):
            inside = [v for v in _views(root) if hasattr(v, "feature")]
            saved["links"] += [[a.model_id, "feature", b.model_id, "feature"] for a, b in zip(inside, inside[1:])]
    return _write(Path(path), saved, title or _title(views))


# ---- what the page holds


def _views(widget) -> list:
    """The anywidget views inside ``widget``, in display order (other ipywidgets are layout only)."""
    if isinstance(widget, anywidget.AnyWidget):
        return [widget]
    if isinstance(widget, ipywidgets.Box):
        return [v for child in widget.children for v in _views(child)]
    return []


def _buttons(widget) -> list:
    if isinstance(widget, ipywidgets.Button):
        return [widget]
    return [b for child in getattr(widget, "children", ()) for b in _buttons(child)]


def _is(widget, name: str) -> bool:
    return any(c.__name__ == name for c in type(widget).__mro__)


def _state(widget) -> dict[str, Any]:
    """The synced traits a view reads (ipywidgets' bookkeeping left out)."""
    return {k: v for k, v in widget.get_state().items() if not k.startswith("_") and k not in _PRIVATE}


def _features(views) -> list[int]:
    """The features the views show: each heatmap's listed features, each card's feature and neighbours."""
    out: list[int] = []
    for v in views:
        if getattr(v, "feature", None) is not None:
            out.append(int(v.feature))
    for v in views:
        if _is(v, "FeatureCard"):
            out += [int(n["feature"]) for n in (v.card or {}).get("neighbors", [])]
        if _is(v, "Heatmap"):
            for prompt in v.prompts:  # every token's strongest feature first, then the second strongest...
                ids = codecs.decode(prompt["top_ids"])
                out += [int(i) for i in (ids.T if ids.ndim == 2 else ids).ravel() if i >= 0]
    return out


def _record(roots, views, features: list[int], grow: int = 0) -> tuple[dict[str, dict[str, dict]], int]:
    """Select each feature in turn (the widgets' own Python code answers, links included) and keep, per view,
    every trait that changes with the selection. The selection is put back and nothing reaches the browser.

    ``grow``: also record the neighbours a recorded card lists (one click away), up to ``grow`` features.
    """
    selecting = [v for v in views if hasattr(v, "feature") and not _is(v, "FeatureMap")]
    if not selecting or not features:
        return {}, 0
    features = list(features)
    driver = next((r for r in roots if hasattr(r, "feature") and not isinstance(r, anywidget.AnyWidget)), None)
    driver = driver or selecting[0]
    original = driver.feature
    buttons = [(b, b.description, b.disabled, b.tooltip) for r in roots for b in _buttons(r)]  # "Steer #f" follows
    states: dict[str, dict[str, dict]] = {v.model_id: {} for v in selecting}
    with contextlib.ExitStack() as stack:
        for v in views:
            stack.enter_context(v.hold_sync())
        queue, listed = [None, *features], []
        for n, f in enumerate(queue):
            driver.feature = f
            for v in selecting:
                if v.feature == f:
                    states[v.model_id]["null" if f is None else str(f)] = _state(v)
                if _is(v, "FeatureCard") and f is not None and n <= len(features):
                    listed.append([int(x["feature"]) for x in (v.card or {}).get("neighbors", [])])
            if n == len(features):  # the shown ones done: their neighbours, every card's nearest first
                for rank in range(max(map(len, listed), default=0)):
                    for more in listed:
                        if rank < len(more) and more[rank] not in queue and len(queue) <= grow:
                            queue.append(more[rank])
        driver.feature = original
    for button, description, disabled, tooltip in buttons:
        button.description, button.disabled, button.tooltip = description, disabled, tooltip
    out = {}
    for v in selecting:
        per = states[v.model_id]
        changing = {k for s in per.values() for k in s if k != "feature" and any(_differs(s[k], o.get(k)) for o in per.values())}
        out[v.model_id] = {f: {k: s[k] for k in changing} for f, s in per.items()}
    return out, len(queue) - 1


def _differs(a, b) -> bool:
    try:
        return bool(a != b)
    except ValueError:  # arrays
        return True


def _map_tables(view) -> dict[str, Any]:
    """Every feature's neighbours (as the map's kernel side gives them) and explanation words, for the page."""
    from ..analysis import explain as ex_mod
    from ..analysis.neighbors import all_neighbors

    lab = view._lab
    k = int(getattr(view, "_n_neighbors", 10))
    ids, cos = all_neighbors(lab.sae, k)
    try:
        index = ex_mod.explanations(lab, progress=False, tokens=False).texts(lab.tokenizer, words=8, tokens=3)
    except Exception:  # noqa: BLE001 - no explanations: the map's own labels still search
        index = [""] * lab.sae.d_sae
    return {"neighbor_table": _jsonable({"ids": codecs.encode(np.asarray(ids), "int32"),
                                         "cosine": codecs.encode(np.asarray(cos), "float16"), "k": k}),
            "search_index": [str(t) for t in index]}


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


# ---- the file


def _title(views) -> str:
    names = {"Heatmap": "token heatmap", "FeatureCard": "feature card", "FeatureMap": "feature map",
             "SteerPanel": "steering panel"}
    kinds = [n for n in names if any(_is(v, n) for v in views)]
    return "saewidgets: " + ", ".join(names[n] for n in kinds)


def _package_version() -> str:
    try:
        return version("saewidgets")
    except PackageNotFoundError:
        return "dev"


def _inline_script(code: str) -> str:
    # "</script" inside the code would end the tag early; "<\/" means the same inside JS strings and regexes
    return code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="saewidgets {version}">
<title>{title}</title>
<style>
  body {{ margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; background: Canvas; color: CanvasText;
         font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }}
  .saew-saved-head h1 {{ font-size: 1.25rem; margin: 0 0 0.25rem; }}
  .saew-saved-head p {{ margin: 0 0 1rem; opacity: 0.75; font-size: 0.9rem; }}
  .saew-saved-view {{ margin: 0 0 1.25rem; }}
  .saew-saved-error {{ color: #d32f2f; }}
</style>
</head>
<body>
<header class="saew-saved-head">
<h1>{title}</h1>
<p>Saved by saewidgets {version} on {date}. Works without a kernel: hover, click and pin tokens, select
features (for the {n} features recorded), search the map; generations shown were recorded in the notebook.</p>
</header>
<main id="saew-views"></main>
<noscript>This page needs JavaScript to show its views.</noscript>
<script type="application/octet-stream" id="saew-saved">{blob}</script>
<script type="module">{loader}</script>
</body>
</html>
"""


def _write(path: Path, saved: dict, title: str) -> Path:
    data = json.dumps(saved, separators=(",", ":"), allow_nan=False).encode("utf-8")
    blob = base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")
    page = PAGE.format(title=html.escape(title), version=html.escape(_package_version()),
                       date=datetime.date.today().isoformat(), n=saved["recorded_features"], blob=blob,
                       loader=_inline_script(esm("export_page")))
    if path.suffix.lower() not in (".html", ".htm"):
        path = path.with_suffix(".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
