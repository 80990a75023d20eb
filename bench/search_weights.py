"""Which weights should word search give its signals? Precision@5 on the concept benchmark, per weighting.

    .venv/bin/python bench/search_weights.py          # prints one line per weighting, best first

Each concept's query runs once (``search.word_signals``); every weighting of the four signals
(``fires``, ``context``, ``reads``, ``writes``) is then scored offline. The chosen one is
``saewidgets.analysis.search.WEIGHTS`` (``docs/explanations.md``). Half the concepts are used to choose
and the other half to report, so the reported precision is not the one the weights were fitted on.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import concept_bench as cb  # noqa: E402
from concepts import CONCEPTS, NEUTRAL  # noqa: E402

GRID = {"fires": (0.0, 0.5, 1.0), "context": (0.0, 0.5, 1.0, 2.0), "reads": (0.0, 0.5, 1.0), "writes": (0.0, 0.25)}


def main() -> None:
    import saewidgets as sw
    from saewidgets.analysis import explain as ex_mod
    from saewidgets.analysis import search as search_mod

    lab = sw.load()
    ex = ex_mod.explanations(lab, progress=False)
    scale = cb.max_activation(lab)
    neutral_max = cb.sentence_maxima(lab, NEUTRAL).max(0).values
    cases = []
    for c in CONCEPTS:
        mask = cb.selective(cb.sentence_maxima(lab, c.sentences), neutral_max, scale).numpy()
        cases.append((c.name, mask, search_mod.word_signals(lab, ex, search_mod.query_words(c.query))))
    fit, held = cases[0::2], cases[1::2]

    def precision(weights, group):
        out = []
        for _, mask, signals in group:
            score = search_mod.combine(signals, weights)
            top = np.argsort(-score, kind="stable")[:cb.TOP]
            out.append(mask[top].mean())
        return float(np.mean(out))

    rows = []
    for values in itertools.product(*GRID.values()):
        weights = dict(zip(GRID, values))
        if not any(values):
            continue
        rows.append((precision(weights, fit), precision(weights, held), precision(weights, cases), weights))
    rows.sort(key=lambda r: -r[0])
    print("fit-half  held-half  all   weights")
    for r in rows[:12]:
        print(f"{r[0]:.3f}     {r[1]:.3f}      {r[2]:.3f}  {r[3]}")
    current = search_mod.WEIGHTS
    print("current", precision(current, fit), precision(current, held), precision(current, cases), current)


if __name__ == "__main__":
    main()
