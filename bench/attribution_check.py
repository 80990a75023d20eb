"""Attribution checked against ablation on the default model (SmolLM2-135M-Instruct + the shipped SAE).

    nice .venv/bin/python bench/attribution_check.py [--method logprob|logit] [--n 50]

For every target (the project's own texts, several kinds; the text's own next token at several positions,
plus tokens of the model's replies to chat prompts): attribute it (activation × gradient), then zero each of
its ``--n`` most attributed features at its position alone (the SAE error and every other feature kept),
re-run, and compare the real change of the target with the attribution's prediction (``-attribution``).

Reports the mean over targets of Pearson's r between predicted and real change (Scaling Monosemanticity's
anchor: 0.81), the pooled r, and the share of each target's top-10 features whose ablation moves the target
the way the attribution's sign predicts. Writes bench/results/attribution_check.json; docs/attribution.md
quotes it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

# The project's own texts: a fact, a story, code, a recipe, news, a poem, a letter, maths, a dialogue,
# instructions, a list, science. Targets: the text's own next token at POSITIONS_PER_TEXT positions.
TEXTS = {
    "fact": "The Eiffel Tower is in Paris, the capital of France, and the Colosseum is in Rome.",
    "story": "Once upon a time, a little fox lived at the edge of the forest. Every morning she ran to the river to drink.",
    "code": "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)",
    "recipe": "To make pancakes, mix two cups of flour with one egg, a cup of milk and a pinch of salt.",
    "news": "The city council voted on Tuesday to build a new bridge across the river, which will open next year.",
    "poem": "The moon is bright above the sea,\nthe waves are singing soft to me.",
    "letter": "Dear Anna,\nThank you for the lovely birthday present. I hope to see you soon.\nBest wishes, Tom",
    "maths": "If a train travels 60 miles in one hour, then in three hours it travels 180 miles.",
    "dialogue": "\"Where are you going?\" asked the old man. \"To the market,\" said the girl, \"to sell my apples.\"",
    "science": "Water boils at 100 degrees Celsius at sea level, and it freezes at 0 degrees.",
}
POSITIONS_PER_TEXT = 4
CHAT = ["What is the capital of Italy?", "Name three colours of the rainbow.", "Write one sentence about dogs."]
REPLY_TOKENS = 4          # reply tokens attributed per chat prompt
TOP_SIGN = 10


def targets_of(lab):
    """(kind, ids, [Target]) for every text and chat prompt."""
    from saewidgets.analysis.attribution import Target, plan

    out = []
    for kind, text in TEXTS.items():
        ids = lab.tokenize(text)
        # spread over the second half of the text: enough context for the target to depend on it
        positions = np.linspace(len(ids) // 2, len(ids) - 2, POSITIONS_PER_TEXT).round().astype(int)
        out.append((kind, ids, [Target(int(p), ids[p + 1]) for p in sorted(set(positions.tolist()))]))
    for prompt in CHAT:
        reply = lab.generate(prompt, max_new_tokens=REPLY_TOKENS + 2)
        ids, targets, _ = plan(lab, prompt, reply=reply, reply_index=list(range(REPLY_TOKENS)))
        out.append(("chat reply", ids, targets))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="logprob", choices=["logprob", "logit"])
    parser.add_argument("--n", type=int, default=50, help="features ablated per target (the most attributed)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    import saewidgets as sw
    from saewidgets.analysis.attribution import ablate_rows, attribute_targets

    lab = sw.load()
    start = time.perf_counter()
    rows = []
    for kind, ids, targets in targets_of(lab):
        for r in attribute_targets(lab, ids, targets, args.method):
            ab = ablate_rows(lab, r, ids, args.n)
            predicted, real = -ab.attribution.to_numpy(), ab.ablation.to_numpy()
            top = ab.head(TOP_SIGN)
            same = np.sign(-top.attribution.to_numpy()) == np.sign(top.ablation.to_numpy())
            rows.append({"kind": kind, "target": r.label, "position": r.target.position, "n": len(ab),
                         "r": float(np.corrcoef(predicted, real)[0, 1]), "sign_top10": float(same.mean()),
                         "predicted": predicted.tolist(), "real": real.tolist()})
            print(f"{kind:>10} {r.label:>14} r={rows[-1]['r']:+.3f} sign@10={rows[-1]['sign_top10']:.1f}", flush=True)
    seconds = time.perf_counter() - start
    rs = [row["r"] for row in rows]
    pooled = np.corrcoef(np.concatenate([row["predicted"] for row in rows]),
                         np.concatenate([row["real"] for row in rows]))[0, 1]
    summary = {
        "method": args.method, "targets": len(rows), "features_per_target": args.n,
        "mean_r": float(np.mean(rs)), "median_r": float(np.median(rs)), "min_r": float(np.min(rs)),
        "share_r_ge_0.8": float(np.mean([r >= 0.8 for r in rs])), "pooled_r": float(pooled),
        "sign_share_top10": float(np.mean([row["sign_top10"] for row in rows])),
        "by_kind": {k: round(statistics.mean(row["r"] for row in rows if row["kind"] == k), 3)
                    for k in dict.fromkeys(row["kind"] for row in rows)},
        "seconds": round(seconds, 1),
    }
    print(json.dumps(summary, indent=2))
    out = Path(__file__).parent / "results" / f"attribution_check_{args.method}.json"
    out.write_text(json.dumps({"summary": summary, "targets": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
