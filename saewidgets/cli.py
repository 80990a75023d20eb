"""Batch jobs from a shell: ``python -m saewidgets prepare|train|evaluate``; the same under ``torchrun``.

    python -m saewidgets prepare --out my-sae-explorable                       # the default model and SAE
    python -m saewidgets prepare --model gpt2 --sae path/to/sae --texts 'data/*.jsonl' --tokens 500000 --out gpt2-l8
    python -m saewidgets train --model gpt2 --layer 6 --texts data.txt --d-sae 4096 --tokens 300000 --out my-sae
    python -m saewidgets evaluate --sae my-sae --texts heldout.jsonl --out eval.json
    torchrun --nproc-per-node 4 -m saewidgets prepare --model gpt2 --sae my-sae --tokens 100000000 --out big

Every job calls the same functions as the notebook API (``lab.prepare``, ``sw.train_sae``, ``sw.evaluate``).
Progress goes to stderr, the result to stdout (rank 0 only under torchrun), and ``--log FILE`` appends JSON
lines (the command, training metrics, the result, or the error with its traceback; ``--log-file`` under
torchrun, whose own parser mistakes ``--log`` for an abbreviation). Output resumes: a
``prepare`` or ``train`` that was interrupted picks up from its checkpoint when run again with the same
arguments (``train`` keeps its activation cache and trainer checkpoint in ``OUT/.train/`` until it finishes).
Errors (a bad path, a missing argument, a model the hub cannot give offline) print one line and exit with
status 1 (2 for a bad command line); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from . import corpus, distributed, text_sources
from .analysis import prepare as prepare_mod
from .evaluate import evaluate
from .lab import load
from .train import train_sae

TRAIN_STATE = ".train"  # OUT/.train: activation cache and trainer checkpoint of a train job until it finishes


class JobError(Exception):
    """A batch job that cannot run as asked; the message says why and what to do."""


class Log:
    """``--log FILE``: JSON lines, one an event, appended (rank 0 only under torchrun)."""

    def __init__(self, path: str | None, command: str):
        self.path = Path(path).expanduser() if path and distributed.is_main() else None
        self.command = command
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields) -> None:
        if self.path is None:
            return
        row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": self.command, "event": event, **fields}
        with open(self.path, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")


def _say(*args) -> None:
    """A result line: stdout, rank 0 only."""
    if distributed.is_main():
        print(*args, flush=True)


def _device(args):
    return distributed.device(args.device) if args.device_map is None else args.device


def _lab(args, sae=True):
    return load(model=args.model, sae=args.sae if sae else None, layer=args.layer, device=_device(args),
                dtype=args.dtype, device_map=args.device_map)


def _texts(args, split: str):
    if args.texts is None:
        return corpus.available_texts(split, verbose=False)
    return text_sources.texts(args.texts, args.text_column)


def _enough(texts, tokens: int):
    """The texts that can hold ``tokens`` tokens (generously: 16 characters a token), read lazily."""
    chars = 0
    for text in texts:
        yield text
        chars += len(text)
        if chars > 16 * tokens:
            return


def _check_input_paths(args) -> None:
    """A --model or --sae that is plainly a path (not a hub id such as ``gpt2`` or ``owner/name``) must exist."""
    for name in ("model", "sae"):
        value = getattr(args, name, None)
        if not isinstance(value, str):
            continue
        looks_local = value.startswith((".", "/", "~")) or value.count("/") > 1
        if looks_local and not Path(value).expanduser().exists():
            raise JobError(f"--{name} {value}: no such file or folder.")


# ---- the jobs


def prepare(args, log: Log) -> dict:
    lab = _lab(args)
    # what lab.prepare runs, with the switches a very wide SAE needs (its counts grow as d_sae² and d_sae × words)
    done = prepare_mod.prepare(lab, args.texts, tokens=args.tokens, out=args.out, text_column=args.text_column,
                               map_layout=args.map, resume=not args.no_resume, progress=not args.quiet,
                               max_seconds=None if args.minutes is None else 60 * args.minutes,
                               coactivation=False if args.no_coactivation else None,
                               context_words=not args.no_context_words)
    _say(done)
    return {"folder": str(done.folder), "tokens": done.tokens, "seconds": done.seconds,
            "resumed_from": done.resumed_from}


def train(args, log: Log) -> dict:
    out = Path(args.out).expanduser()
    if (out / "cfg.json").exists() and (out / "history.csv").exists() and not args.force:
        _say(f"{out}: already trained (cfg.json and history.csv are there); --force trains again.")
        return {"folder": str(out), "skipped": "already trained"}
    if args.layer is None:
        raise JobError("train needs --layer (a layer number or a hook name such as blocks.6.hook_resid_post).")
    state = out / TRAIN_STATE
    lab = _lab(args, sae=False)
    metrics_log = None
    if log.path is not None:
        metrics_log = log.path  # fit appends its metric rows as JSON lines
    sae, history = train_sae(lab, _texts(args, "train"), layer=args.layer, d_sae=args.d_sae, k=args.k,
                             tokens=args.tokens, activation_tokens=args.activation_tokens, seq_len=args.seq_len,
                             batch_size=args.batch_size, lr=args.lr, seed=args.seed, select_dtype=args.select_dtype,
                             cache_dir=state / "activations", checkpoint_dir=state, log_file=metrics_log,
                             progress=not args.quiet)
    result = {"folder": str(out), "d_sae": sae.d_sae, "hook": sae.cfg.hook_name, "tokens": args.tokens}
    if distributed.is_main():
        path = sae.save(out)
        history.to_csv(Path(path) / "history.csv", index=False)
        if not args.keep_activations:
            shutil.rmtree(state, ignore_errors=True)
        if len(history):
            result["fvu"] = float(history.fvu.iloc[-1])
        _say(f"{path}: SAE with {sae.d_sae} features at {sae.cfg.hook_name}, trained on {args.tokens:,} tokens")
    return result


def evaluate_cmd(args, log: Log) -> dict:
    lab = _lab(args)
    if lab.sae is None:
        raise JobError(f"no SAE to evaluate: pass --sae (the model {lab.model_name} has no default SAE).")
    texts = _enough(_texts(args, "heldout"), args.tokens)
    scores = evaluate(lab, texts, max_tokens=args.tokens, progress=not args.quiet)
    text = json.dumps(scores, indent=2, default=float)
    if args.out and distributed.is_main():
        Path(args.out).expanduser().parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).expanduser().write_text(text + "\n")
    _say(text)
    return json.loads(text)


# ---- the command line


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m saewidgets", description=__doc__.split("\n")[0],
                                 epilog="Under torchrun every rank runs the same command; see docs/scale.md.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="{prepare,train,evaluate}")

    def common(p, tokens: int):
        p.add_argument("--model", default=None, help="HF model id or folder (default: the embedded SmolLM2)")
        p.add_argument("--layer", default=None, help="layer number or hook name (default: the SAE's)")
        p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1 ... (under torchrun: "
                       "each rank's own GPU)")
        p.add_argument("--device-map", default=None, help="spread a big model over the GPUs: 'auto' (accelerate)")
        p.add_argument("--dtype", default=None, help="float32 (default), bfloat16, float16")
        p.add_argument("--texts", default=None, help="a .txt/.jsonl/.parquet path or glob, or a hub dataset "
                       "(default: the corpus at hand)")
        p.add_argument("--text-column", default="text")
        p.add_argument("--tokens", type=int, default=tokens, help=f"tokens to read (default {tokens:,})")
        p.add_argument("--log-file", "--log", dest="log", default=None, metavar="FILE",
                       help="append JSON lines: command, metrics, result (under torchrun spell it --log-file: "
                       "torchrun takes --log for an abbreviation of its own options)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--debug", action="store_true", help="show the traceback of an error")

    p = sub.add_parser("prepare", help="every artefact of an SAE in one pass, saved as one folder")
    common(p, 200_000)
    p.add_argument("--sae", default=None, help="SAE folder, file or release id (default: the shipped SAE)")
    p.add_argument("--out", default=None, help="the folder to write (default: the SAE's own or the cache)")
    p.add_argument("--map", default="umap", choices=["umap", "pca"])
    p.add_argument("--minutes", type=float, default=None, help="end the pass after this much compute")
    p.add_argument("--no-resume", action="store_true", help="ignore a checkpoint of an interrupted run")
    p.add_argument("--no-coactivation", action="store_true", help="no d_sae² pair counts (off anyway past "
                   f"{prepare_mod.MAX_COACTIVATION_FEATURES:,} latents)")
    p.add_argument("--no-context-words", action="store_true", help="no d_sae × 8,000 context-word counts "
                   "(needed past ~268k latents)")
    p.set_defaults(run=prepare)

    p = sub.add_parser("train", help="train a Top-K SAE on a model's residual stream")
    common(p, 300_000)
    p.add_argument("--d-sae", type=int, default=4096)
    p.add_argument("-k", type=int, default=32)
    p.add_argument("--activation-tokens", type=int, default=None,
                   help="distinct positions to collect (default: --tokens; fewer means epochs)")
    p.add_argument("--batch-size", type=int, default=1024, help="the global batch (split over torchrun's ranks)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--select-dtype", default="bfloat16", choices=["bfloat16", "float32"],
                   help="dtype of the top-k selection product (bfloat16 falls back to float32 where it is slow)")
    p.add_argument("--out", required=True, help="the SAE folder to write (SAELens format + history.csv)")
    p.add_argument("--keep-activations", action="store_true", help=f"keep OUT/{TRAIN_STATE} after training")
    p.add_argument("--force", action="store_true", help="train again even if OUT holds a trained SAE")
    p.set_defaults(run=train, sae=None)

    p = sub.add_parser("evaluate", help="L0, FVU, CE-loss recovered, KL of an SAE on held-out text")
    common(p, 20_000)
    p.add_argument("--sae", default=None)
    p.add_argument("--out", default=None, help="also write the scores to this JSON file")
    p.set_defaults(run=evaluate_cmd)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "layer", None) is not None and str(args.layer).lstrip("-").isdigit():
        args.layer = int(args.layer)
    log = None
    try:
        distributed.init()
        log = Log(args.log, args.command)
        log.write("start", argv=sys.argv[1:] if argv is None else argv, rank=distributed.rank(),
                  world_size=distributed.world_size())
        _check_input_paths(args)
        started = time.perf_counter()
        result = args.run(args, log)
        log.write("done", result=result, seconds=round(time.perf_counter() - started, 1))
        return 0
    except KeyboardInterrupt:
        _error(args, log, "interrupted; run the same command again to resume.", None)
        return 130
    except Exception as err:  # noqa: BLE001 - one line for the user, the traceback in the log
        known = isinstance(err, (JobError, ValueError, OSError, ImportError, FloatingPointError))
        message = str(err) or type(err).__name__
        if not known:
            message = f"{type(err).__name__}: {message}"
        _error(args, log, message, err)
        if args.debug:
            raise
        return 1
    finally:
        distributed.close()


def _error(args, log: Log | None, message: str, err: BaseException | None) -> None:
    where = f" (rank {distributed.rank()})" if distributed.world_size() > 1 else ""
    print(f"saewidgets {args.command}{where}: error: {message}", file=sys.stderr, flush=True)
    if log is not None:
        log.write("error", message=message,
                  traceback="".join(traceback.format_exception(err)) if err is not None else None)
        if log.path is not None and not args.debug:
            print(f"(the traceback is in {log.path}; --debug shows it here)", file=sys.stderr)
