"""Figures for docs/default-sae.md: training curves (PNG) and a sanity read of a few features.

    .venv/bin/python scripts/report_default_sae.py

Reads saewidgets/data/default-sae/{history.csv,metrics.json}, writes docs/default-sae-curves.png, and
prints (Markdown) the metrics table and the top held-out contexts of a few features.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import saewidgets as sw  # noqa: E402
from saewidgets.corpus import load_texts, token_windows  # noqa: E402
from saewidgets.hooks import run_to  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAE_DIR = ROOT / "saewidgets" / "data" / "default-sae"
TARGETS = {"fvu": ("≤ 0.12", lambda v: v <= 0.12), "ce_loss_recovered": ("≥ 0.95", lambda v: v >= 0.95),
           "ce_increase": ("≤ 0.25 nats", lambda v: v <= 0.25),
           "dead_fraction_last_1M": ("≤ 2%", lambda v: v <= 0.02),
           "dense_fraction_train": ("≤ 1%", lambda v: v <= 0.01)}


def curves(history: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    for ax, (key, title) in zip(axes.flat, [("loss", "loss (FVU + AuxK/32)"), ("fvu", "training FVU"),
                                            ("l0", "L0"), ("dead_fraction", "dead fraction (AuxK window)")]):
        ax.plot(history.tokens / 1e6, history[key], lw=1)
        ax.set_title(title)
        ax.set_xlabel("training tokens (millions)")
        ax.grid(alpha=0.3)
    axes[0, 1].set_ylim(0, min(1, history.fvu.max()))
    axes[1, 0].set_ylim(0, history.l0.max() * 1.25)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def metrics_table(metrics: dict) -> str:
    lines = ["| metric (held-out) | value | target | met |", "|---|---|---|---|"]
    for key in ["l0", "fvu", "ce_clean", "ce_sae", "ce_increase", "ce_loss_recovered", "kl_div", "dead_fraction",
                "dead_fraction_last_1M", "dense_fraction", "dense_fraction_train", "tokens"]:
        value = metrics[key]
        target, ok = TARGETS.get(key, ("", None))
        shown = f"{value:,.0f}" if key == "tokens" else f"{value:.4f}"
        lines.append(f"| {key} | {shown} | {target} | {'yes' if ok and ok(value) else ('no' if ok else '')} |")
    return "\n".join(lines)


@torch.no_grad()
def feature_examples(lab, n_features: int = 6, windows: int = 300, context: int = 8) -> str:
    ids = torch.stack([torch.as_tensor(w) for _, w in zip(range(windows),
                                                          token_windows(lab.tokenizer, load_texts("heldout"), 64))])
    codes = []
    for batch in ids.split(32):
        codes.append(lab.sae.encode(run_to(lab.model, lab.hook, batch).to(lab.sae.dtype)).float())
    z = torch.cat(codes)
    z[:, 0] = 0  # attention sink
    freq = lab.sae.stats["frequency"]
    # Features of middling frequency that fire on these windows: neither always-on nor too rare to show.
    candidates = torch.nonzero((freq > 1e-3) & (freq < 2e-2)).flatten()
    candidates = candidates[z[:, :, candidates].amax((0, 1)) > 0][:: max(1, len(candidates) // 200)]
    out = []
    for f in candidates[torch.randperm(len(candidates), generator=torch.Generator().manual_seed(0))][:n_features]:
        f = int(f)
        flat = z[:, :, f].flatten()
        top = flat.topk(3)
        out.append(f"**feature {f}** (fires on {freq[f]:.2%} of tokens, max {lab.sae.stats['max_activation'][f]:.1f})\n")
        for value, pos in zip(top.values, top.indices):
            w, t = divmod(int(pos), z.shape[1])
            left = lab.tokenizer.decode(ids[w, max(1, t - context):t])
            tok = lab.tokenizer.decode(ids[w, t:t + 1])
            right = lab.tokenizer.decode(ids[w, t + 1:t + 1 + context // 2])
            text = f"{left}[[{tok}]]{right}".replace("\n", "↵").replace("|", "\\|")
            out.append(f"- {value:.1f}: `{text}`")
        out.append("")
    return "\n".join(out)


def main() -> None:
    history = pd.read_csv(SAE_DIR / "history.csv")
    metrics = json.loads((SAE_DIR / "metrics.json").read_text())
    curves(history, ROOT / "docs" / "default-sae-curves.png")
    print(metrics_table(metrics))
    print()
    print(feature_examples(sw.load()))


if __name__ == "__main__":
    main()
