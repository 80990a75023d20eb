"""The race with SAELens: our Top-K trainer against sae-lens' TopK trainer on the same activations.

    .venv/bin/python bench/race_saelens.py            # the full race (~20 min), writes bench/results/race_saelens.md
    .venv/bin/python bench/race_saelens.py --quick    # a smoke run (~2 min) with small sizes, writes nothing

Full run: d_sae 4096 (819,200 tokens) and 16384 (163,840 tokens: sae-lens needs ~5 min for that alone),
k 32, batch 1024, our learning rate; sae-lens as it comes and with its bf16 autocast (see VARIANTS).

What is compared, per configuration (d_sae, k, batch size, learning rate, training tokens):
- training throughput: training tokens / wall seconds of the whole training call (initialisation, data
  loading from the fp16 file, every step), in a fresh process each, ``torch.set_num_threads(2)``;
- FVU on held-out activations (rows from the corpus' held-out split, never trained on), after equal tokens,
  computed for both SAEs by one function here (both loaded with ``saewidgets.SAE.load``; the SAELens one from
  the SAELens-format folder that sae-lens itself wrote), and cross-checked with sae-lens' own forward pass.

Same data, same order: the activations are written once to ``train.npy`` (fp16). Our ``fit`` draws batches
as ``np.random.default_rng([seed, epoch]).permutation(n)`` cut into sorted batches; the SAELens worker feeds
its ``SAETrainer`` a data-provider iterator that yields exactly those batches (converted to fp32, as ours).

SAELens side (runs in .venv-peers, which has sae-lens but not saewidgets; nothing from it is copied here):
``TopKTrainingSAE(TopKTrainingSAEConfig(...))`` trained by ``sae_lens.SAETrainer(cfg=SAETrainerConfig(...),
data_provider=<iterator of activation batches>)`` -- the class its LanguageModelSAETrainingRunner uses, minus
the language model. Its defaults are kept (decoder init norm 0.1, b_dec = 0, decoder-norm rescaling,
AuxK coefficient 1 with k_aux = d_in / 2, Adam(0.9, 0.999), grad-norm clipping at 1, fp32). Aligned with
ours: learning rate, a constant LR with linear decay to 0 over the last 20% of steps (``lr_decay_steps``),
and the dead-latent window (ours counts tokens, theirs steps: ``dead_feature_window = dead_tokens // batch``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
RESULTS = ROOT / "bench" / "results" / "race_saelens.md"
THREADS = 2
SEED = 0
DECAY_FRACTION = 0.2          # both trainers: linear LR decay to 0 over the last 20% of steps


# ---------------------------------------------------------------------------------------------
# Shared by both workers (numpy + torch only: the peer venv has no saewidgets)


def batch_rows(n: int, batch_size: int, tokens: int, seed: int = SEED):
    """Row indices of each training batch, exactly as ``saewidgets.train.fit`` draws them."""
    steps, per_epoch, step, epoch = tokens // batch_size, n // batch_size, 0, 0
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(n)
        for lo in range(0, per_epoch * batch_size, batch_size):
            if step >= steps:
                return
            yield np.sort(order[lo:lo + batch_size])
            step += 1
        epoch += 1


def fvu_of(forward, x_all: np.ndarray, chunk: int = 4096) -> float:
    """Fraction of variance unexplained: sum |x - x_hat|^2 / sum |x - mean(x)|^2 over all rows."""
    import torch

    mean = x_all.astype(np.float64).mean(0)
    err = var = 0.0
    with torch.no_grad():
        for lo in range(0, len(x_all), chunk):
            x = torch.from_numpy(x_all[lo:lo + chunk].astype(np.float32))
            err += float((x - forward(x).float()).double().pow(2).sum())
            var += float((x.double() - torch.from_numpy(mean)).pow(2).sum())
    return err / var


def dead_tokens_for(spec: dict) -> int:
    """Our trainer's default dead-latent window in tokens (see TrainConfig.dead_tokens)."""
    return min(1_000_000, max(spec["tokens"] // 10, 10 * spec["batch_size"]))


# ---------------------------------------------------------------------------------------------
# Workers: one process per trainer and configuration


def worker_ours(spec: dict) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    from saewidgets.train import TrainConfig, fit

    acts = np.load(spec["train"], mmap_mode="r")
    cfg = TrainConfig(d_sae=spec["d_sae"], k=spec["k"], tokens=spec["tokens"], batch_size=spec["batch_size"],
                      lr=spec["lr"], lr_decay_fraction=DECAY_FRACTION, dead_tokens=dead_tokens_for(spec),
                      seed=SEED, log_every=50)
    start, cpu = time.perf_counter(), time.process_time()
    sae, history = fit(acts, cfg, spec["hook_name"], spec["model_name"], progress=False,
                       callback=lambda row: _progress("ours", row["tokens"], spec["tokens"], start))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    sae.save(spec["out"])
    return {"seconds": seconds, "cores_used": cpu / seconds, "train_fvu_last": float(history["fvu"].iloc[-5:].mean())}


def worker_saelens(spec: dict) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    import sae_lens
    from sae_lens import LoggingConfig, SAETrainer, TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig

    acts = np.load(spec["train"], mmap_mode="r")
    d_in = acts.shape[1]
    variant = spec["variant"]
    torch.manual_seed(SEED)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(
        d_in=d_in, d_sae=spec["d_sae"], k=spec["k"], dtype="float32", device="cpu",
        # sparse codes fail in backward on CPU together with decoder-norm rescaling (aten::view on SparseCPU)
        use_sparse_activations=variant == "sparse", rescale_acts_by_decoder_norm=variant != "sparse"))
    if variant == "mean-b_dec":  # sae-lens 6 starts b_dec at 0; ours starts it at the data mean
        sample = acts[np.linspace(0, len(acts) - 1, min(len(acts), 65536)).astype(int)]
        sae.b_dec.data = torch.from_numpy(sample.astype(np.float32).mean(0))
    steps = spec["tokens"] // spec["batch_size"]
    cfg = SAETrainerConfig(
        total_training_samples=spec["tokens"], train_batch_size_samples=spec["batch_size"],
        lr=spec["lr"], lr_end=spec["lr"], lr_scheduler_name="constant",
        lr_decay_steps=int(DECAY_FRACTION * steps), device="cpu", autocast=variant == "bf16",
        dead_feature_window=max(1, dead_tokens_for(spec) // spec["batch_size"]),
        logger=LoggingConfig(log_to_wandb=False))
    load_seconds = 0.0

    def provider():  # the DataProvider: an iterator of [batch, d_in] activation tensors
        nonlocal load_seconds
        for i, rows in enumerate(batch_rows(len(acts), spec["batch_size"], spec["tokens"])):
            t = time.perf_counter()
            x = torch.from_numpy(np.asarray(acts[rows], dtype=np.float32))
            load_seconds += time.perf_counter() - t
            if i % 50 == 49:
                _progress("sae-lens", (i + 1) * spec["batch_size"], spec["tokens"], start)
            yield x

    start, cpu = time.perf_counter(), time.process_time()
    trainer = SAETrainer(cfg=cfg, sae=sae, data_provider=provider())
    trainer.fit()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    sae.save_inference_model(spec["out"])  # SAELens format, decoder norms folded in
    sae.eval()
    heldout = np.load(spec["heldout"], mmap_mode="r")
    return {"seconds": seconds, "cores_used": cpu / seconds, "data_seconds": load_seconds, "sae_lens_version": sae_lens.__version__,
            "fvu_own_forward": fvu_of(sae, heldout), "dead_features_trainer": int(trainer.dead_neurons.sum())}


def _progress(who: str, done: int, total: int, start: float) -> None:
    elapsed = time.perf_counter() - start
    print(f"  [{who}] {done:>9,}/{total:,} tokens  {done / max(elapsed, 1e-9):7,.0f} tok/s", file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------------------------------------
# Driver (main venv)


def prepare_data(n_train: int, n_heldout: int, work: Path) -> dict:
    """train.npy / heldout.npy (fp16) in ``work``: built once, reused while the sizes match."""
    import torch

    from saewidgets import activations, corpus
    from saewidgets.hooks import HookPoint
    from saewidgets.models import DEFAULT_MODEL, load_model
    from saewidgets.paths import cache_dir

    point = HookPoint(15)
    caches = [json.loads(f.read_text()) | {"dir": str(f.parent)}
              for f in sorted(cache_dir("runs").glob("*/activations/meta.json"))]
    caches = [c for c in caches if c.get("hook_name") == point.name and c["rows"] >= n_train]
    info_file = work / "data.json"
    if info_file.exists():
        info = json.loads(info_file.read_text())
        if (info["train_rows"] == n_train and info["heldout_rows"] == n_heldout
                and (info["from_cache"] or not caches)):
            return info
    work.mkdir(parents=True, exist_ok=True)
    model = tokenizer = None

    def bf16_model():
        # As scripts/train_default_sae.py: activations from a bfloat16 copy of the model (2.7x faster).
        nonlocal model, tokenizer
        if model is None:
            model, tokenizer, _ = load_model()
            model = model.to(torch.bfloat16)
        return model, tokenizer

    # Training rows: a random subset of the default run's activation cache when it is complete and
    # large enough (the real training data), else freshly collected from the training split.
    if caches:
        meta = caches[0]
        cache = np.memmap(Path(meta["dir"]) / "acts.f16", dtype=np.float16, mode="r",
                          shape=(meta["rows"], meta["d_model"]))
        rows = np.sort(np.random.default_rng(SEED).choice(meta["rows"], n_train, replace=False))
        np.save(work / "train.npy", np.asarray(cache[rows]))
        source = f"random {n_train:,} of the {meta['rows']:,} rows of the default SAE's activation cache"
    else:
        m, tok = bf16_model()
        windows = corpus.token_windows(tok, corpus.load_texts("train"), seq_len=128)
        np.save(work / "train.npy", activations.collect(m, point, windows, n_train, batch_sequences=16))
        source = f"{n_train:,} rows collected from the training split"
    m, tok = bf16_model()
    windows = corpus.token_windows(tok, corpus.load_texts("heldout"), seq_len=128)
    heldout = activations.collect(m, point, windows, n_heldout, batch_sequences=16)
    np.save(work / "heldout.npy", heldout)
    info = {"train_rows": n_train, "heldout_rows": n_heldout, "from_cache": bool(caches), "heldout_collected": len(heldout),
            "train_source": source, "hook_name": point.name, "model_name": DEFAULT_MODEL,
            "heldout_source": f"first {len(heldout):,} positions of the held-out split (sinks removed)"}
    info_file.write_text(json.dumps(info, indent=2))
    return info


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)  # (idle + iowait, total) jiffies since boot


def wait_idle(max_wait: float = 1200, sample: float = 5.0) -> float:
    """Wait until the machine is >= 90% idle over a few seconds (other work would skew the timings)."""
    if not Path("/proc/stat").exists():
        return float("nan")
    deadline = time.monotonic() + max_wait
    while True:
        i0, t0 = _cpu_times()
        time.sleep(sample)
        i1, t1 = _cpu_times()
        idle = (i1 - i0) / max(t1 - t0, 1)
        if idle >= 0.9 or time.monotonic() > deadline:
            return idle
        print(f"   machine only {idle:.0%} idle: waiting for other work to finish", flush=True)
        time.sleep(30)


def run_worker(python: Path, role: str, spec: dict) -> dict:
    """Run one trainer in a fresh process; its result comes back as the last line of stdout.

    Also measures how much CPU *other* processes took meanwhile (all busy time on the machine minus the
    worker's own), as a fraction of the machine's capacity: ``other_load``.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS),
           "WANDB_MODE": "disabled", "TQDM_DISABLE": "1"}
    (idle0, total0), ru0, start = _cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run([str(python), __file__, "--worker", role, "--spec", json.dumps(spec)],
                          stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    (idle1, total1), ru1, wall = _cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"the {role} worker failed (exit {proc.returncode}); see its output above")
    busy = ((total1 - total0) - (idle1 - idle0)) / os.sysconf("SC_CLK_TCK")
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    other_load = max(0.0, busy - own) / (wall * (os.cpu_count() or 1))
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "other_load": other_load}


def run_quietly(python: Path, role: str, spec: dict, attempts: int = 3, max_other: float = 0.10) -> dict:
    """run_worker on an idle machine; runs disturbed by other work (> max_other of the CPU) are repeated."""
    for attempt in range(1, attempts + 1):
        idle = wait_idle()
        result = run_worker(python, role, spec)
        if result["other_load"] <= max_other or attempt == attempts:
            return {**result, "idle_before": idle, "attempts": attempt}
        print(f"   other processes took {result['other_load']:.0%} of the CPU during this run: repeating it",
              flush=True)


def evaluate(path: Path, heldout: np.ndarray) -> dict:
    """FVU, L0 and the fraction of latents that never fire, on the held-out rows (one code path for both)."""
    import torch

    from saewidgets.sae import SAE

    sae = SAE.load(path)
    fired = torch.zeros(sae.d_sae, dtype=torch.bool)
    l0 = []

    def forward(x):
        values, idx = sae.encode_sparse(x)
        fired[idx[values > 0]] = True
        l0.append(float((values > 0).sum(-1).float().mean()))
        return sae.decode_sparse(values, idx)

    fvu = fvu_of(forward, heldout)
    return {"fvu": fvu, "l0": float(np.mean(l0)), "never_fired": float((~fired).float().mean())}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
    return (f"{cpu}, {os.cpu_count()} logical cores ({'with' if bf16 else 'without'} native bf16 matmul), "
            f"{THREADS} torch threads; Python {platform.python_version()}, torch {torch.__version__}")


VARIANTS = {  # sae-lens runs, each changing one thing from its defaults (all via its own API)
    "default": "sae-lens defaults (fp32, dense codes)",
    "bf16": "`SAETrainerConfig(autocast=True)`: its bf16 autocast",
    "sparse": "`TopKTrainingSAEConfig(use_sparse_activations=True, rescale_acts_by_decoder_norm=False)`: sparse "
              "COO codes decoded by `torch.sparse.mm` (with the default rescaling on, its backward fails on CPU: "
              "`aten::view` has no SparseCPU kernel)",
    "mean-b_dec": "b_dec initialised to the data mean, as ours (sae-lens 6 starts it at 0)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, a couple of minutes; results not written")
    ap.add_argument("--d-sae", type=int, nargs="+", default=None, help="default: 4096 16384 (quick: 2048)")
    ap.add_argument("--batch-size", type=int, nargs="+", default=[1024])
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--tokens", type=int, nargs="+", default=None,
                    help="training tokens per run: one value, or one per --d-sae (default 800 steps of 1,024 for "
                         "d_sae <= 4096, 160 for larger: sae-lens' dense step costs ~d_sae; quick: 30 steps)")
    ap.add_argument("--heldout", type=int, default=None, help="held-out rows for FVU (default 50k, quick 5k)")
    ap.add_argument("--lr", type=float, default=None, help="default: ours, 3e-3 / sqrt(d_sae / 4096)")
    ap.add_argument("--saelens", nargs="+", choices=list(VARIANTS), default=["default", "bf16"],
                    help="sae-lens variants to race (default: default bf16)")
    ap.add_argument("--work", type=Path, default=None, help="data and SAE folder (default: the saewidgets cache)")
    ap.add_argument("--out", type=Path, default=None, help=f"Markdown results (default {RESULTS.relative_to(ROOT)})")
    ap.add_argument("--worker", choices=["ours", "saelens"], help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:  # a child process: train, print the result as JSON
        result = (worker_ours if args.worker == "ours" else worker_saelens)(json.loads(args.spec))
        print(json.dumps(result), flush=True)
        return

    import torch

    torch.set_num_threads(THREADS)
    if not PEER_PYTHON.exists():
        sys.exit(f"{PEER_PYTHON} is missing: python3 -m venv .venv-peers && "
                 ".venv-peers/bin/pip install -r bench/requirements-peers.txt")
    d_saes = args.d_sae or ([2048] if args.quick else [4096, 16384])
    budgets = args.tokens or [30_720 if args.quick else 819_200 if d <= 4096 else 163_840 for d in d_saes]
    if len(budgets) not in (1, len(d_saes)):
        sys.exit("--tokens takes one value or one per --d-sae")
    budgets = dict(zip(d_saes, budgets * len(d_saes) if len(budgets) == 1 else budgets))
    n_heldout = args.heldout or (5_000 if args.quick else 50_000)
    if args.work is None:
        from saewidgets.paths import cache_dir

        args.work = cache_dir("bench", "race-saelens-quick" if args.quick else "race-saelens")
    out = args.out or (None if args.quick else RESULTS)

    t0 = time.perf_counter()
    # One epoch of the largest budget; smaller budgets see a random subset of the rows (the same for all).
    info = prepare_data(max(budgets.values()), n_heldout, args.work)
    print(f"data: {info['train_source']}; held-out: {info['heldout_source']} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    heldout = np.load(args.work / "heldout.npy")

    runs = []
    for d_sae in d_saes:
        for batch_size in args.batch_size:
            lr, tokens = args.lr or 3e-3 / (d_sae / 4096) ** 0.5, budgets[d_sae]
            spec = {"d_sae": d_sae, "k": args.k, "batch_size": batch_size, "lr": lr, "tokens": tokens,
                    "train": str(args.work / "train.npy"), "heldout": str(args.work / "heldout.npy"),
                    "hook_name": info["hook_name"], "model_name": info["model_name"]}
            print(f"\n== d_sae {d_sae}, k {args.k}, batch {batch_size}, lr {lr:.2e}, {tokens:,} tokens", flush=True)
            for trainer in ["ours"] + [f"saelens:{v}" for v in args.saelens]:
                folder = args.work / f"{trainer.replace(':', '-')}-{d_sae}-{args.k}-{batch_size}"
                if trainer == "ours":
                    result = run_quietly(Path(sys.executable), "ours", {**spec, "out": str(folder)})
                else:
                    variant = trainer.split(":")[1]
                    result = run_quietly(PEER_PYTHON, "saelens", {**spec, "variant": variant, "out": str(folder)})
                result.update(evaluate(folder, heldout), trainer=trainer, tok_s=tokens / result["seconds"])
                runs.append({**spec, **result})
                extra = f" (sae-lens' own forward: {result['fvu_own_forward']:.4f})" if "fvu_own_forward" in result else ""
                print(f"   {trainer:18s} {result['tok_s']:8,.0f} tok/s  FVU {result['fvu']:.4f}{extra}", flush=True)

    wall = time.perf_counter() - t0
    report = render(runs, info, wall)
    print("\n" + report)
    (args.work / "race_saelens.json").write_text(json.dumps({"info": info, "runs": runs}, indent=2))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        print(f"wrote {out}")


def render(runs: list[dict], info: dict, wall: float) -> str:
    cmd = " ".join([".venv/bin/python", "bench/race_saelens.py", *sys.argv[1:]])
    peers = [r for r in runs if r["trainer"] != "ours"]
    sl_version = peers[0]["sae_lens_version"] if peers else "?"
    lines = [
        "# The race with SAELens: Top-K SAE training on a CPU",
        "",
        f"Command: `{cmd}` (whole benchmark {wall / 60:.1f} min, {time.strftime('%Y-%m-%d')}).",
        "",
        f"Machine: {machine()}. Peer: sae-lens {sl_version} in `.venv-peers` (`bench/requirements-peers.txt`).",
        "",
        f"Data: SmolLM2-135M-Instruct, `{info['hook_name']}` (activations of a bf16 copy of the model, fp16 file). "
        f"Training: {info['train_source']}, each run at most one epoch over them, identical batches in identical order for every trainer. "
        f"FVU: {info['heldout_source']}, never trained on.",
        "",
        "| d_sae | k | batch | lr | tokens | trainer | tokens/s | ours ÷ this (speed) | FVU (held-out) "
        "| L0 | never fired | train s | cores busy | other load |",
        "|---:|---:|---:|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        ours = next(o for o in runs if o["trainer"] == "ours" and o["d_sae"] == r["d_sae"]
                    and o["batch_size"] == r["batch_size"])
        name = "**ours**" if r["trainer"] == "ours" else f"SAELens {r['trainer'].split(':')[1]}"
        ratio = "" if r["trainer"] == "ours" else f"**{ours['tok_s'] / r['tok_s']:.2f}**"
        lines.append(
            f"| {r['d_sae']:,} | {r['k']} | {r['batch_size']:,} | {r['lr']:.2e} | {r['tokens']:,} | {name} "
            f"| {r['tok_s']:,.0f} | {ratio} | {r['fvu']:.4f} | {r['l0']:.1f} | {r['never_fired']:.1%} "
            f"| {r['seconds']:.0f} | {r['cores_used']:.2f} | {r['other_load']:.0%} |")
    used = sorted({r["trainer"].split(":")[1] for r in peers}, key=list(VARIANTS).index)
    lines += [
        "",
        "SAELens variants: " + "; ".join(f"**{v}**: {VARIANTS[v]}" for v in used) + ".",
        "",
        "tokens/s: training tokens ÷ wall seconds of the whole training call (init, reading the fp16 file, all "
        "steps), each trainer in a fresh process with `torch.set_num_threads(2)`, one after the other, nothing "
        "else running: each run first waits for the machine to be ≥ 90% idle, and is repeated (up to 3 times) when "
        "other processes took > 10% of the CPU meanwhile ('other load', measured from /proc/stat minus the "
        "trainer's own CPU time; this machine is shared with other work). 'cores busy': the trainer's CPU seconds "
        "÷ wall seconds (2 = both cores busy throughout). FVU = Σ‖x − x̂‖² / Σ‖x − mean x‖² over the held-out rows, every SAE evaluated by the same "
        "code (`saewidgets.SAE.load`; the SAELens ones from the folders sae-lens wrote); sae-lens' own forward pass "
        "gives " + ", ".join(f"{r['fvu_own_forward']:.4f}" for r in peers) + " for its rows. "
        "L0: mean active latents per held-out row. 'never fired': latents with no activation on any held-out row.",
        "",
    ]
    return "\n".join(lines + EXPLANATION)


EXPLANATION = [
    "## How each side was run",
    "",
    "- **Ours**: `saewidgets.train.fit` with `TrainConfig(d_sae, k, tokens, batch_size, lr)`, everything else "
    "default: unit-norm decoder, encoder = decoder transpose, b_dec = data mean, FVU loss + AuxK/32, Adam.",
    "- **SAELens**: `sae_lens.TopKTrainingSAE(TopKTrainingSAEConfig(d_in=576, d_sae, k, dtype='float32'))` "
    "trained by `sae_lens.SAETrainer` with an `SAETrainerConfig` (same lr, `lr_decay_steps` = last 20% of "
    "steps as ours, `dead_feature_window` = our dead-latent window in steps, wandb off) and a data provider "
    "yielding the same fp32 batches. Everything else is sae-lens' default (decoder init norm 0.1, b_dec = 0, "
    "decoder-norm rescaling of the codes, MSE + AuxK with coefficient 1, Adam(0.9, 0.999), grad-norm clip 1, "
    "no autocast, dense activations). This is the path its `LanguageModelSAETrainingRunner` takes, minus the LM.",
    "",
]


if __name__ == "__main__":
    main()
