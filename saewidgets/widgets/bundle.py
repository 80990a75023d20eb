"""The built front-end: one ES module per view in ``saewidgets/static/``, made from ``js/`` by esbuild."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def esm(view: str) -> str:
    """The JavaScript of one view, e.g. ``esm("heatmap")``; a clear message when it was never built."""
    path = STATIC / f"{view}.js"
    if not path.is_file():
        raise FileNotFoundError(
            f"the saewidgets front-end is not built ({path} is missing). From a source checkout run\n"
            "    cd js && npm ci && npm run build\n"
            "(needs Node.js 18 or newer), or reinstall with `pip install .` (its build hook runs npm), or install\n"
            "saewidgets from a wheel, which includes every bundle.")
    return path.read_text(encoding="utf-8")
