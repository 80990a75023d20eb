"""``lab.prepare`` on the default model with a fresh 16,384-latent SAE: throughput, stages and peak memory.

    .venv/bin/python bench/bench_prepare.py [--tokens 200000]

Each measurement runs in a fresh process (peak RSS is per process):

1. the dashboard pass alone (``dashboards.compute``, what the lazily computed dashboards and the shipped
   build run) over N tokens of the corpus's training split;
2. ``lab.prepare`` over N tokens: the same pass plus explanations, the search table and the UMAP map;
3. ``lab.prepare`` over 2N tokens: peak memory should not move (the pass keeps a fixed-size state).

The SAE is ``SAE.create`` at the default's hook point and shape (16,384 latents, Top-K with the default's
k), with a seed: a Top-K SAE costs the same per token whether trained or not. SAEDashboard's rate for the
same job is measured by ``bench/bench_dashboards.py`` (its peer needs its own venv); the ratio in
``docs/benchmarks.md`` puts the two side by side. Writes bench/results/prepare.md (and prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "prepare.md"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_lab():
    sys.path.insert(0, str(ROOT))
    import saewidgets as sw
    from saewidgets.sae import SAE

    lab = sw.load()
    shipped = lab.sae
    sae = SAE.create(shipped.d_in, shipped.d_sae, "topk", k=shipped.cfg.k, hook_name=shipped.cfg.hook_name,
                     model_name=lab.model_name, seed=1)
    return lab.with_sae(sae)


def run_pass(tokens: int) -> dict:
    import torch

    from saewidgets.analysis import dashboards as dash

    lab = fresh_lab()
    windows = dash.corpus_windows(lab.tokenizer, "train", 128)
    before = peak_rss_mb()
    t0 = time.perf_counter()
    d = dash.compute(lab.model, lab.hook, lab.sae, windows, tokens, progress=False)
    seconds = time.perf_counter() - t0
    return {"what": "pass", "seconds": seconds, "tokens": d.meta["positions"], "rss_before_mb": before,
            "rss_peak_mb": peak_rss_mb(), "threads": torch.get_num_threads()}


def run_prepare(tokens: int) -> dict:
    import torch

    lab = fresh_lab()
    before = peak_rss_mb()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        done = lab.prepare(tokens=tokens, out=out, progress=False)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(out).iterdir() if p.is_file())
    positions = done.tokens  # tokens analysed (sinks left out); the pass reads ceil(N / 128) windows
    return {"what": "prepare", "seconds": seconds, "stages": done.seconds, "tokens": positions,
            "read_tokens": -(-tokens // 128) * 128, "pass_tokens_per_s": -(-tokens // 128) * 128 / done.seconds["pass"],
            "folder_mb": size / 1e6, "rss_before_mb": before, "rss_peak_mb": peak_rss_mb(),
            "threads": torch.get_num_threads()}


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(n: int, single: dict, one: dict, two: dict) -> str:
    rate = lambda r: r.get("read_tokens", r["tokens"]) / (r["stages"]["pass"] if "stages" in r else r["seconds"])  # noqa: E731
    stage = lambda r, k: f"{r['stages'].get(k, 0):.0f}"  # noqa: E731
    lines = [
        "# lab.prepare: a fresh 16,384-latent SAE on the default model",
        "",
        f"`python bench/bench_prepare.py --tokens {n}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores "
        f"({platform.machine()}), torch threads {one['threads']}, no GPU; each row a fresh process.",
        "",
        "| run | tokens read | pass (s) | pass tokens/s | explanations (s) | search table (s) | map (s) | total (s) | peak RSS (MB) | before (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| dashboard pass alone | {-(-n // 128) * 128:,} | {single['seconds']:.0f} | {rate(single):,.0f} | | | | "
        f"{single['seconds']:.0f} | {single['rss_peak_mb']:,.0f} | {single['rss_before_mb']:,.0f} |",
    ]
    for r in (one, two):
        lines.append(f"| lab.prepare | {r['read_tokens']:,} | {r['stages']['pass']:.0f} | {rate(r):,.0f} | "
                     f"{stage(r, 'explanations')} | {stage(r, 'search_table')} | {stage(r, 'map')} | {r['seconds']:.0f} | "
                     f"{r['rss_peak_mb']:,.0f} | {r['rss_before_mb']:,.0f} |")
    lines += [
        "",
        f"Peak RSS of lab.prepare changes by {two['rss_peak_mb'] - one['rss_peak_mb']:+.0f} MB when the tokens double. "
        f"prepare's pass runs at {rate(one) / rate(single):.2f}× ({rate(two) / rate(single):.2f}× at 2N) the dashboard "
        f"pass alone; writing its checkpoints took {one['stages'].get('checkpoints', 0):.1f} s of "
        f"{one['stages']['pass']:.0f} s ({two['stages'].get('checkpoints', 0):.1f} s at 2N), the rest is run-to-run "
        f"variation. The folder (SAE in fp32 + artefacts) is {one['folder_mb']:.0f} MB.",
        "",
        "```",
        *(json.dumps(r) for r in (single, one, two)),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=200_000)
    ap.add_argument("--child", choices=["pass", "prepare"], help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.child == "pass":
        print(json.dumps(run_pass(args.tokens)))
        return
    if args.child == "prepare":
        print(json.dumps(run_prepare(args.tokens)))
        return
    single = child(["--child", "pass", "--tokens", str(args.tokens)])
    one = child(["--child", "prepare", "--tokens", str(args.tokens)])
    two = child(["--child", "prepare", "--tokens", str(2 * args.tokens)])
    report = table(args.tokens, single, one, two)
    print(report)
    if not args.no_write:
        RESULTS.write_text(report)


if __name__ == "__main__":
    main()
