"""Time the workshop notebook notebooks/04-train-your-own-sae.ipynb at its full budget (2,048 latents, 200k tokens).

    .venv/bin/python bench/bench_train_notebook.py      # prints each code cell's wall time; target: training <= 10 min

Runs the notebook as a person would (no SAEWIDGETS_FAST), on the default model, with nbclient.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04-train-your-own-sae.ipynb"


def seconds(cell) -> float | None:
    t = cell.get("metadata", {}).get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SAEWIDGETS_FAST"}
    os.environ.clear()
    os.environ.update(env)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    total = time.perf_counter() - started
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        first = cell.source.strip().splitlines()[0][:70]
        print(f"cell {n}: {seconds(cell):7.1f} s  {first}")
    print(f"whole notebook: {total:.1f} s (2 CPU cores, torch default threads)")


if __name__ == "__main__":
    main()
