"""The layering of the package, checked on the source: each module imports only from its own layer or below.

model → hooks → SAE → store → engine → context → analysis → widgets → lab (see the README's layout table).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "saewidgets"

LAYERS = [  # bottom first; a module's layer is that of the longest matching prefix
    ("shared", ["checks", "tokens", "offline", "paths", "deprecation", "corpus", "text_sources", "training_curves",
                "distributed"]),
    ("model", ["models"]),
    ("hooks", ["hooks"]),
    ("sae", ["sae"]),
    ("store", ["store"]),
    ("engine", ["activations", "topk_screen", "steering", "monitor", "generation", "train", "evaluate"]),
    ("context", ["context"]),
    ("analysis", ["analysis"]),
    ("widgets", ["widgets"]),
    ("facade", ["lab", "cli", "__init__", "__main__"]),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def rank_of(module: str) -> int:
    top = module.split(".")[0]
    if top not in RANK:
        raise AssertionError(f"saewidgets.{module} is in no layer: add it to LAYERS")
    return RANK[top]


def imported(path: Path) -> set[str]:
    """saewidgets modules that ``path`` imports, anywhere in the file (function-level imports included)."""
    here = module_name(path).split(".")
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
                names = [".".join(parts)] if node.module else [".".join(base + [a.name]) for a in node.names]
            elif (node.module or "").startswith("saewidgets"):
                names = [node.module.removeprefix("saewidgets").lstrip(".")]
            else:
                continue
            out.update(n for n in names if n)
        elif isinstance(node, ast.Import):
            out.update(a.name.removeprefix("saewidgets.") for a in node.names if a.name.startswith("saewidgets."))
    return out


def test_every_module_imports_only_its_layer_or_below():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        if me == "__init__":
            continue
        for other in imported(path):
            if rank_of(other) > rank_of(me):
                wrong.append(f"saewidgets.{me} ({LAYERS[rank_of(me)][0]}) imports saewidgets.{other} "
                             f"({LAYERS[rank_of(other)][0]})")
    assert not wrong, "\n".join(wrong)


def test_nothing_below_the_facade_imports_lab():
    users = [module_name(p) for p in PACKAGE.rglob("*.py")
             if "lab" in imported(p) and rank_of(module_name(p)) < RANK["lab"]]
    assert users == []
