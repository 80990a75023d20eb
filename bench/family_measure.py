"""Feature families across the default's widths (1,024, 2,048, 16,384 latents): how features match and split.

    .venv/bin/python bench/family_measure.py                 # writes bench/results/family.json + docs/family-cosines.png

For each pair of neighbouring widths:
- the best-match cosine in the wider SAE of every feature of the narrower one, against a null (the same, with the
  wider decoder randomly rotated: the geometry kept, the alignment broken); its 99.9th percentile is what a
  chance match reaches, and justifies ``CHILD_COSINE``;
- how many features split (two or more children at or above ``CHILD_COSINE``), and the children per parent;
- on text: for sampled (parent, child) pairs of split parents, the share of the child's top examples on which the
  parent fires too (re-read as short texts; the child itself is the control, a random feature of the parent's SAE
  with the parent's density the baseline). A child is "inside" its parent when the parent fires on at least 80%
  of the examples on which the child does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import saewidgets as sw  # noqa: E402
from saewidgets.analysis.family import CHILD_COSINE, best_match, fires_on_examples, random_rotation  # noqa: E402
from saewidgets.analysis.neighbors import unit_decoder  # noqa: E402

INSIDE = 0.8


def null_cosines(fam, i: int, seed: int = 0) -> np.ndarray:
    src, dst = unit_decoder(fam.contexts[i].sae), unit_decoder(fam.contexts[i + 1].sae)
    return best_match(src, dst @ random_rotation(dst.shape[1], seed))[1]


def on_text(fam, i: int, pairs: int, rng: np.random.Generator) -> dict:
    """Parent firing on children's top examples, for sampled (parent, child) pairs of split parents."""
    parents, cos = fam.best_in(i + 1, i)
    kept = cos >= CHILD_COSINE
    counts = np.bincount(parents[kept], minlength=fam.width(i))
    split_children = np.nonzero(kept & (counts[parents] >= 2))[0]
    chosen = rng.choice(split_children, size=min(pairs, len(split_children)), replace=False)
    freq = np.asarray(fam.contexts[i].stats["frequency"], dtype=np.float64)
    rows = []
    for child in chosen:
        parent = int(parents[child])
        # baseline: the feature of the parent's SAE closest in density to the parent, other than the parent
        by_density = np.argsort(np.abs(freq - freq[parent]))
        baseline = int(next(f for f in by_density if f != parent))
        p_share, c_share, b_share = fires_on_examples(fam.contexts[i + 1], int(child),
                                                     [(fam.contexts[i], parent), (fam.contexts[i + 1], int(child)),
                                                      (fam.contexts[i], baseline)])
        rows.append((p_share, c_share, b_share))
    a = np.array(rows, dtype=np.float64)
    ok = ~np.isnan(a).any(axis=1)
    a = a[ok]
    ratio = a[:, 0] / np.maximum(a[:, 1], 1e-9)
    return {"pairs": int(len(a)), "parent_fires_mean": float(a[:, 0].mean()),
            "child_fires_mean": float(a[:, 1].mean()), "baseline_fires_mean": float(a[:, 2].mean()),
            "inside_share": float((ratio >= INSIDE).mean()),
            "baseline_inside_share": float((a[:, 2] / np.maximum(a[:, 1], 1e-9) >= INSIDE).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=200, help="(parent, child) pairs checked on text per width pair")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "family.json")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs" / "family-cosines.png")
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    started = time.time()
    lab = sw.load()
    fam = lab.feature_family()
    results = {"names": fam.names, "widths": [fam.width(i) for i in range(len(fam))], "child_cosine": CHILD_COSINE,
               "metrics": {}, "pairs": []}
    for ctx, name in zip(fam.contexts, fam.names):
        metrics = ctx.sae.cfg.metadata.get("heldout_metrics", {})
        results["metrics"][name] = {k: metrics.get(k) for k in ("fvu", "ce_loss_recovered", "dead_fraction",
                                                                "dead_fraction_last_1M", "l0")}
    hists = []
    for i in range(len(fam) - 1):
        best = fam.best_in(i, i + 1)[1]
        null = null_cosines(fam, i)
        parents, cos = fam.best_in(i + 1, i)
        kept = cos >= CHILD_COSINE
        children = np.bincount(parents[kept], minlength=fam.width(i))
        pair = {
            "from": fam.names[i], "to": fam.names[i + 1],
            "best_match_median": float(np.median(best)), "best_match_quartiles": np.percentile(best, [25, 75]).tolist(),
            "best_match_above_child_cosine": float((best >= CHILD_COSINE).mean()),
            "null_median": float(np.median(null)), "null_p99": float(np.percentile(null, 99)),
            "null_p999": float(np.percentile(null, 99.9)),
            "wider_with_parent": float(kept.mean()),
            "split_share": float((children >= 2).mean()), "one_child_share": float((children == 1).mean()),
            "no_child_share": float((children == 0).mean()),
            "children_mean_of_split": float(children[children >= 2].mean()) if (children >= 2).any() else 0.0,
            "children_max": int(children.max()),
            "histogram": np.histogram(best, bins=20, range=(0, 1))[0].tolist(),
            "null_histogram": np.histogram(null, bins=20, range=(0, 1))[0].tolist(),
        }
        pair.update(on_text(fam, i, args.pairs, rng))
        results["pairs"].append(pair)
        hists.append((pair, best, null))
        print(json.dumps({k: v for k, v in pair.items() if "histogram" not in k}, indent=1), flush=True)
    results["seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(hists), figsize=(5 * len(hists), 3.2), sharey=False)
    for ax, (pair, best, null) in zip(np.atleast_1d(axes), hists):
        bins = np.linspace(0, 1, 41)
        ax.hist(best, bins=bins, alpha=0.75, label=f"best match in {pair['to']}")
        ax.hist(null, bins=bins, alpha=0.6, label="null: wider decoder rotated")
        ax.axvline(CHILD_COSINE, color="k", ls="--", lw=1)
        ax.set_title(f"{pair['from']} → {pair['to']}")
        ax.set_xlabel("decoder cosine")
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("features")
    fig.tight_layout()
    fig.savefig(args.figure, dpi=110)
    print(f"wrote {args.out} and {args.figure} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
