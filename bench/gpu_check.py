"""Every engine path on a GPU: encode, steering, the prepare pass and training, as ratios, in one JSON file.

    .venv/bin/python bench/gpu_check.py                       # on a machine with CUDA: writes bench/results/gpu_check.json
    .venv/bin/python bench/gpu_check.py --out my.json --model gpt2 --sae path/to/sae
    .venv/bin/python bench/gpu_check.py --cpu                 # a quick smoke run of the same code on the CPU

Without CUDA it stops with a clear message (exit status 2) unless ``--cpu`` is given. The measures reuse the
other benches' method (``bench_engine.timed_pair``: alternating runs, medians) on the device:

- engine: ``lab.encode`` of 512 tokens ÷ a plain forward of the same tokens (``bench_engine``'s ratio);
- steering: a clamp-steered ``generate`` of 64 forced tokens ÷ the same plain ``generate`` (time ratio; the
  inverse of ``bench_steering``'s tokens/s ratio). The Top-K screen (``topk_screen``) is a CPU device and stays
  off on CUDA, where the fp32 encoder product is cheap: the report says which ran;
- prepare: the dashboard pass (forward to the hook layer, SAE, all the streaming state) ÷ the forward to the
  hook layer alone, same windows (what the pass adds to the model's own cost);
- training: one Top-K trainer step on a batch ÷ the batch's dense encoder product in the selection dtype
  (the step's floor), and the trainer's tokens per second.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine import timed_pair  # noqa: E402 - the engine bench's method, reused

NO_GPU = ("bench/gpu_check.py: no CUDA GPU is visible here (torch.cuda.is_available() is False; torch "
          f"{torch.__version__}). Run it on a machine with a GPU and a CUDA build of torch, or pass --cpu "
          "for a smoke run of the same code on the CPU.")


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int) -> float:
    def run():
        fn()
        sync(device)
    a, _ = timed_pair(run, lambda: None, repeats)
    return a


def engine(lab, device, repeats: int) -> dict:
    import saewidgets.corpus

    text = open(saewidgets.corpus.__file__).read()
    ids = lab.tokenize(text)[:512]
    prompt = lab.tokenizer.decode(ids[1:])
    batch = torch.tensor([ids], device=lab.device)

    def forward():
        with torch.no_grad():
            lab.model(input_ids=batch, use_cache=False)
        sync(device)

    def encode():
        lab.encode(prompt)
        sync(device)

    e, f = timed_pair(encode, forward, repeats)
    return {"encode_s": e, "forward_s": f, "ratio": e / f, "target": "<= 0.6", "tokens": len(ids)}


def steering(lab, device, repeats: int, n: int) -> dict:
    ids = torch.tensor([lab.chat_ids("Write a short story about a walk in the park.")], device=lab.device)
    feature = int(torch.as_tensor(lab.stats.get("frequency", torch.ones(lab.sae.d_sae))).argmax()) if lab.stats else 0
    kw = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=lab.tokenizer.pad_token_id,
              attention_mask=torch.ones_like(ids))

    def plain():
        with torch.no_grad():
            lab.model.generate(ids, **kw)
        sync(device)

    def steered():
        with torch.no_grad(), lab.steering({feature: 1.0}, method="clamp"):
            lab.model.generate(ids, **kw)
        sync(device)

    s, p = timed_pair(steered, plain, repeats)
    from saewidgets import topk_screen
    screen = topk_screen.screen_kind(False) if torch.device(device).type == "cpu" else None
    return {"steered_s": s, "plain_s": p, "ratio": s / p, "target": "<= 1.05", "new_tokens": n,
            "topk_screen": str(screen)}


def prepare_pass(lab, device, tokens: int) -> dict:
    from saewidgets.analysis.dashboard_pass import DashboardConfig, indexed_batches, run_pass
    from saewidgets.corpus import available_texts, token_windows
    from saewidgets.hooks import run_to

    config = DashboardConfig()
    windows = list(token_windows(lab.tokenizer, available_texts("train", verbose=False), seq_len=config.seq_len))
    windows = windows[: max(1, tokens // config.seq_len)]
    run_pass(lab.model, lab.hook, lab.sae, windows[:config.batch_windows], config.seq_len, config, progress=False)

    def forward_only():
        for _, ids in indexed_batches(windows, config.batch_windows, len(windows)):
            run_to(lab.model, lab.hook, ids.to(lab.device))
        sync(device)

    def the_pass():
        run_pass(lab.model, lab.hook, lab.sae, windows, len(windows) * config.seq_len, config, progress=False)
        sync(device)

    p, f = timed_pair(the_pass, forward_only, 3)
    n = len(windows) * config.seq_len
    return {"pass_s": p, "forward_to_hook_s": f, "ratio": p / f, "tokens": n, "pass_tokens_per_s": n / p,
            "d_sae": lab.sae.d_sae}


def training(device, d_in: int, d_sae: int, k: int, batch: int, steps: int) -> dict:
    from saewidgets.train import TopKTrainer, TrainConfig

    cfg = TrainConfig(d_sae=d_sae, k=k, tokens=batch * (steps + 10), batch_size=batch)
    x = torch.randn(batch, d_in, device=device)
    trainer = TopKTrainer(d_in, cfg, x.mean(0), device)
    for _ in range(3):
        trainer.step(x)
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step(x)
    sync(device)
    step = (time.perf_counter() - started) / steps
    W = trainer.W_enc.detach().to(trainer.select_dtype)
    xs = x.to(trainer.select_dtype)
    matmul = timed(lambda: xs @ W, device, 5)
    return {"step_s": step, "encoder_product_s": matmul, "ratio": step / matmul, "tokens_per_s": batch / step,
            "d_sae": d_sae, "batch": batch, "select_dtype": str(trainer.select_dtype)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", action="store_true", help="smoke run on the CPU (small sizes)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--sae", default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu_check.json"))
    args = ap.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print(NO_GPU, file=sys.stderr)
        return 2
    device = "cpu" if args.cpu else "cuda"
    import saewidgets as sw

    small = args.cpu
    lab = sw.load(model=args.model, sae=args.sae, device=device)
    results = {
        "engine": engine(lab, device, 3 if small else 7),
        "steering": steering(lab, device, 2 if small else 7, 16 if small else 64),
        "prepare": prepare_pass(lab, device, 4096 if small else 262_144),
        "training": training(device, lab.model.config.hidden_size, 4096 if small else 16_384, 32,
                             1024 if small else 4096, 5 if small else 50),
    }
    report = {"device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "model": lab.model_name, "hook": lab.hook.name, "mode": device,
              "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    for name, r in results.items():
        print(f"{name:9s} ratio {r['ratio']:.2f}  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in r.items() if k != "ratio"))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
