"""Batch jobs from a shell: ``python -m saewidgets prepare|train|evaluate``.

    python -m saewidgets prepare --out my-sae-explorable                       # the default model and SAE
    python -m saewidgets prepare --model gpt2 --sae path/to/sae --texts 'data/*.jsonl' --tokens 500000 --out gpt2-l8
    python -m saewidgets train --model gpt2 --layer 6 --texts data.txt --d-sae 4096 --tokens 300000 --out my-sae
    python -m saewidgets evaluate --sae my-sae --texts heldout.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import corpus, text_sources
from .evaluate import evaluate
from .lab import load
from .train import train_sae


def _lab(args):
    return load(model=args.model, sae=args.sae, layer=args.layer, device=args.device)


def _texts(args):
    return corpus.available_texts("train") if args.texts is None else text_sources.texts(args.texts, args.text_column)


def prepare(args) -> None:
    lab = _lab(args)
    done = lab.prepare(args.texts, tokens=args.tokens, out=args.out, text_column=args.text_column,
                       map_layout=args.map, max_seconds=None if args.minutes is None else 60 * args.minutes)
    print(done)


def train(args) -> None:
    lab = load(model=args.model, device=args.device)
    sae, history = train_sae(lab, _texts(args), layer=args.layer, d_sae=args.d_sae, k=args.k, tokens=args.tokens)
    path = sae.save(args.out)
    history.to_csv(Path(path) / "history.csv", index=False)
    print(f"{path}: SAE with {sae.d_sae} features at {sae.cfg.hook_name}, trained on {args.tokens:,} tokens")


def evaluate_cmd(args) -> None:
    lab = _lab(args)
    texts = corpus.available_texts("heldout") if args.texts is None else text_sources.texts(args.texts, args.text_column)
    print(json.dumps(evaluate(lab, texts, max_tokens=args.tokens), indent=2, default=float))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m saewidgets", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p, tokens: int):
        p.add_argument("--model", default=None, help="HF model id or folder (default: the embedded SmolLM2)")
        p.add_argument("--layer", default=None, help="layer number or hook name (default: the SAE's)")
        p.add_argument("--device", default="auto")
        p.add_argument("--texts", default=None, help="a .txt/.jsonl/.parquet path or glob, or a hub dataset "
                       "(default: the corpus at hand)")
        p.add_argument("--text-column", default="text")
        p.add_argument("--tokens", type=int, default=tokens)

    p = sub.add_parser("prepare", help="every artefact of an SAE in one pass, saved as one folder")
    common(p, 200_000)
    p.add_argument("--sae", default=None, help="SAE folder, file or release id (default: the shipped SAE)")
    p.add_argument("--out", default=None, help="the folder to write (default: the SAE's own or the cache)")
    p.add_argument("--map", default="umap", choices=["umap", "pca"])
    p.add_argument("--minutes", type=float, default=None, help="end the pass after this much compute")
    p.set_defaults(run=prepare)

    p = sub.add_parser("train", help="train a Top-K SAE on a model's residual stream")
    common(p, 300_000)
    p.add_argument("--d-sae", type=int, default=4096)
    p.add_argument("-k", type=int, default=32)
    p.add_argument("--out", required=True)
    p.set_defaults(run=train)

    p = sub.add_parser("evaluate", help="L0, FVU, CE-loss recovered, KL of an SAE on held-out text")
    common(p, 20_000)
    p.add_argument("--sae", default=None)
    p.set_defaults(run=evaluate_cmd)

    args = ap.parse_args(argv)
    if getattr(args, "layer", None) is not None and str(args.layer).isdigit():
        args.layer = int(args.layer)
    args.run(args)
