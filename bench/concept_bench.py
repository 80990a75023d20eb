"""The concept benchmark: do search, neighbours and explanations mean something on held-out text?

    .venv/bin/python bench/concept_bench.py                 # the default SAE; prints the tables
    .venv/bin/python bench/concept_bench.py --json out.json --features 600

For each concept of ``bench/concepts.py`` (held-out sentences no artefact was built from):
- a feature is **concept-selective** when, on at least half of the concept's sentences, its largest
  activation is above 1.5 × its largest activation on every neutral sentence and above 5% of its own
  maximum (so that a whisper on a concept sentence does not count when it is silent on the neutral ones);
- **search precision@5**: the share of ``lab.search(query)``'s top 5 that are concept-selective;
- the concept's **best feature** is its most selective one (largest second-highest concept activation
  relative to its maximum, among the selective ones); **neighbour coherence@10**: the share of its 10
  neighbours (``lab.neighbors(f, by=...)``) that are concept-selective, for each ``by``;
- **names the concept**: the best feature's explanation (each method's top 5 entries) contains one of the
  concept's name stems.

**Detection** (``--features``, default 600): for a random sample of features that fire on at least 5
held-out windows and miss at least 5, each method's top 5 entries score each held-out window
(``explanation_quality.scores``); the AUROC against "the feature fires in the window above 20% of its
maximum". Windows: the corpus's held-out split (never read by the SAE's training or its artefacts),
``--windows`` of 64 tokens.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concepts import CONCEPTS, NEUTRAL, Concept  # noqa: E402

SELECTIVE_RATIO = 1.5
SELECTIVE_FLOOR = 0.05
FIRES_SHARE = 0.2
TOP = 5


# ---------------------------------------------------------------------------------------------
# Concept sentences


def sentence_maxima(lab, texts) -> torch.Tensor:
    """``[len(texts), d_sae]``: each feature's largest activation over each text's tokens."""
    from saewidgets.analysis.search import text_values

    return text_values(lab, list(texts))


def max_activation(lab) -> torch.Tensor:
    return torch.as_tensor(lab.stats["max_activation"]).float()


def selective(concept: torch.Tensor, neutral_max: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``[d_sae]`` bool: fires on at least half of the concept sentences clearly above the neutral ones."""
    above = (concept > SELECTIVE_RATIO * neutral_max) & (concept > SELECTIVE_FLOOR * scale)
    return above.sum(0) >= math.ceil(len(concept) / 2)


def best_feature(concept: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor) -> int | None:
    if not mask.any():
        return None
    second = concept.sort(0, descending=True).values[1] / scale.clamp(min=1e-6)
    return int(torch.where(mask, second, torch.full_like(second, -1)).argmax())


def names(entries: list[str], stems: tuple[str, ...]) -> bool:
    for e in entries:
        w = e.strip().lower()
        for s in stems:
            if (len(s) >= 4 and w.startswith(s)) or w == s:
                return True
    return False


def explanation_entries(lab, table, f: int, method: str) -> list[str]:
    """A feature's top entries as text under one method ("vocabulary", "tokens", "context", or "shown")."""
    if method == "shown":
        method = table.best_method(f)
    return table.entries(f, method, lab.tokenizer, TOP)


def concept_table(lab, by=("decoder", "coactivation", "both"), methods=("vocabulary", "tokens", "context", "shown"),
                  search=None) -> tuple[list[dict], dict]:
    """Per concept: precision@5, coherence@10 per ``by``, and whether each method names it."""
    from saewidgets.analysis import explain as ex_mod

    table = ex_mod.explanations(lab, progress=False)
    scale = max_activation(lab)
    neutral_max = sentence_maxima(lab, NEUTRAL).max(0).values
    search = search or (lambda query: lab.search(query, k=TOP).feature.tolist())
    rows, masks = [], {}
    for c in CONCEPTS:
        acts = sentence_maxima(lab, c.sentences)
        mask = masks[c.name] = selective(acts, neutral_max, scale)
        hits = search(c.query)[:TOP]
        row = {"concept": c.name, "kind": c.kind, "selective": int(mask.sum()),
               "precision@5": float(np.mean([bool(mask[f]) for f in hits])) if hits else 0.0}
        best = best_feature(acts, mask, scale)
        row["best"] = best
        for b in by:
            try:
                nb = lab.neighbors(best, k=10, by=b).feature.tolist() if best is not None else []
            except (ValueError, TypeError):
                nb = []
            row[f"coherence@10 {b}"] = float(np.mean([bool(mask[f]) for f in nb])) if nb else 0.0
        for m in methods:
            entries = explanation_entries(lab, table, best, m) if best is not None else []
            row[f"names {m}"] = names(entries, c.names)
            row[f"words {m}"] = ", ".join(entries)
        rows.append(row)
    summary = {"precision@5": float(np.mean([r["precision@5"] for r in rows]))}
    for b in by:
        summary[f"coherence@10 {b}"] = float(np.mean([r[f"coherence@10 {b}"] for r in rows]))
    for m in methods:
        summary[f"names {m}"] = float(np.mean([r[f"names {m}"] for r in rows]))
    from saewidgets.analysis import feature_map as fm

    for by in ("decoder", "coactivation"):
        found = lab.store.find(fm.KINDS[by])
        if found is not None:
            layout = found[0]
            summary.update({f"map {by} {k}": v for k, v in label_quality(layout.labels).items()})
            summary[f"map {by} match spread"] = match_spread(lab, layout, masks)
    return rows, summary


# ---------------------------------------------------------------------------------------------
# The map: labels and where a search's matches land


def label_quality(labels: list[str]) -> dict:
    """Share of cluster-label terms that are function words (the 300 most frequent English words) or
    word fragments (shorter than 3 letters, or rarer as an English word than Zipf 2.5)."""
    import wordfreq

    stop = set(wordfreq.top_n_list("en", 300))
    terms = [t.strip().lower() for label in labels for t in label.split(",") if t.strip()]
    function = [t for t in terms if t in stop]
    fragment = [t for t in terms if t not in stop and (len(t) < 3 or wordfreq.zipf_frequency(t, "en") < 2.5)]
    return {"terms": len(terms), "function_share": len(function) / max(len(terms), 1),
            "fragment_share": len(fragment) / max(len(terms), 1),
            "bad_label_share": float(np.mean([any(t.strip().lower() in stop or len(t.strip()) < 3 for t in label.split(","))
                                              for label in labels])) if labels else 0.0}


def match_spread(lab, layout, masks: dict, k: int = 20) -> float:
    """Mean map distance between a query's concept-selective matches ÷ mean distance of random pairs:
    below 1 means related matches sit near each other."""
    pos = np.full((lab.sae.d_sae, 2), np.nan)
    pos[layout.features] = layout.xy
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(layout.xy), (2, 5000))
    base = np.linalg.norm(layout.xy[a] - layout.xy[b], axis=1).mean()
    ratios = []
    for c in CONCEPTS:
        hits = [f for f in lab.search(c.query, k=k).feature.tolist() if bool(masks[c.name][f])]
        xy = pos[hits]
        xy = xy[np.isfinite(xy).all(1)]
        if len(xy) >= 2:
            d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
            ratios.append(d[np.triu_indices(len(xy), 1)].mean() / base)
    return float(np.mean(ratios)) if ratios else float("nan")


# ---------------------------------------------------------------------------------------------
# Detection on held-out windows


def heldout_windows(lab, n: int, seq_len: int = 64) -> np.ndarray:
    from saewidgets.corpus import available_documents, token_windows

    docs = (d["text"] for d in available_documents("heldout", verbose=False))
    out = []
    for w in token_windows(lab.tokenizer, docs, seq_len=seq_len):
        out.append(np.asarray(w))
        if len(out) == n:
            break
    return np.stack(out)


@torch.no_grad()
def window_maxima(lab, windows: np.ndarray, batch: int = 16) -> torch.Tensor:
    """``[n, d_sae]`` fp16: each feature's largest activation in each window (attention sinks left out)."""
    from saewidgets.activations import sink_mask
    from saewidgets.hooks import run_to

    sae = lab.sae
    out = torch.zeros(len(windows), sae.d_sae, dtype=torch.float16)
    for lo in range(0, len(windows), batch):
        ids = torch.as_tensor(windows[lo:lo + batch], device=lab.device)
        acts = run_to(lab.model, lab.hook, ids)
        sink = sink_mask(acts)
        z = sae.encode(acts.to(sae.dtype)).float()
        z[sink] = 0
        out[lo:lo + batch] = z.amax(1).half().cpu()
    return out


def detection(lab, table, windows: np.ndarray, maxima: torch.Tensor, n_features: int,
              methods=("vocabulary", "tokens", "context", "shown"), seed: int = 0) -> tuple[dict, list[dict]]:
    from saewidgets.analysis.explanation_quality import EntryIds, auroc, incidence, scores

    scale = max_activation(lab)
    fires = maxima.float() > FIRES_SHARE * scale[None]
    n_pos = fires.sum(0)
    eligible = ((n_pos >= 5) & (n_pos <= len(windows) - 5)).nonzero().flatten().numpy()
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(eligible, min(n_features, len(eligible)), replace=False))
    present = incidence(windows, len(lab.tokenizer))
    ids = EntryIds(lab.tokenizer)
    rows = []
    for f in sample:
        f = int(f)
        row = {"feature": f, "positives": int(n_pos[f])}
        for m in methods:
            texts = explanation_entries(lab, table, f, m)
            if m == "tokens" or (m == "shown" and table.best_method(f) == "tokens"):
                entries = [ids.token(t, s) for t, s in zip(table.top_token_ids(f, TOP), texts)]
            else:
                entries = [ids.word(s) for s in texts]
            s = scores(present, entries)
            row[m] = auroc(s[fires[:, f]], s[~fires[:, f]])
        rows.append(row)
    summary = {"features": len(rows), "eligible": int(len(eligible))}
    for m in methods:
        summary[f"detection {m}"] = float(np.nanmean([r[m] for r in rows]))
    return summary, rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sae", default=None, help="an SAE folder (default: the shipped default)")
    parser.add_argument("--features", type=int, default=600)
    parser.add_argument("--windows", type=int, default=1024)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import saewidgets as sw
    from saewidgets.analysis import explain as ex_mod

    started = time.perf_counter()
    lab = sw.load(sae=args.sae) if args.sae else sw.load()
    rows, summary = concept_table(lab)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(pd.DataFrame(rows).drop(columns=[c for c in pd.DataFrame(rows) if c.startswith("words")]))
    table = ex_mod.explanations(lab, progress=False)
    windows = heldout_windows(lab, args.windows)
    maxima = window_maxima(lab, windows)
    det, det_rows = detection(lab, table, windows, maxima, args.features)
    summary.update(det)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "concepts": rows}, indent=2))


if __name__ == "__main__":
    main()
