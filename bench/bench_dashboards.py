"""Dashboard building: saewidgets against SAEDashboard (the `sae-dashboard` package), same model, SAE, tokens.

    .venv/bin/python bench/bench_dashboards.py [--tokens 16384] [--peer-features N]

1. Tokens: the first 2 × N tokens of the saewidgets corpus's training split in 128-token windows (SmolLM2's
   tokenizer), written once to a .npy file that both sides read.
2. saewidgets: one streaming pass over N tokens, dashboards for all features (fresh process).
3. SAEDashboard, in its own venv (bench/requirements-dashboard-peer.txt, at .venv-dash): the same SmolLM2
   weights, built as a TransformerLens HookedSAETransformer by hand (TransformerLens has no SmolLM2 entry),
   the same SAE read by sae-lens, the same N tokens. Its best settings for the job: activations cached on
   disk after the first feature batch, the ablation "buffer" computation off, attention sinks left out as
   ours are (position 0 and norms above 10 × the median). It loops over feature batches of 256, so its time
   grows with the number of features: by default it builds all of them (about 5 minutes here); with
   --peer-features N only the first N, and the time for all is scaled by d_sae / N (said in the results;
   scaling overstates its time a little, as its first batch's forward pass is not repeated).
4. Memory: peak RSS of the saewidgets pass over N and 2N tokens, each in a fresh process.
Writes bench/results/dashboards.md (and prints it).
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

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-dash" / "bin" / "python"
RESULTS = ROOT / "bench" / "results" / "dashboards.md"
HOOK = "blocks.15.hook_resid_post"
SEQ_LEN = 128


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# tokens


def make_tokens(path: Path, n_tokens: int) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from saewidgets.analysis.dashboards import corpus_windows
    from saewidgets.corpus import smollm2_tokenizer

    windows = corpus_windows(smollm2_tokenizer(), "train", SEQ_LEN)
    n = -(-n_tokens // SEQ_LEN)
    np.save(path, np.stack([next(windows) for _ in range(n)]))


# ---------------------------------------------------------------------------------------------
# saewidgets (run in a fresh process: --ours)


def run_ours(tokens_file: Path, n_tokens: int, sae_dir: Path) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    import saewidgets as sw
    from saewidgets.analysis.dashboards import DashboardBuilder, DashboardConfig, compute

    lab = sw.load(sae=str(sae_dir))
    windows = np.load(tokens_file)[: -(-n_tokens // SEQ_LEN)]
    before = peak_rss_mb()
    t0 = time.perf_counter()
    d = compute(lab.model, lab.hook, lab.sae, windows, n_tokens, DashboardConfig(), progress=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "tokens": d.meta["positions"], "features": lab.sae.d_sae,
            "rss_before_mb": before, "rss_peak_mb": peak_rss_mb(),
            "state_mb": DashboardBuilder(lab.sae.d_sae, DashboardConfig()).nbytes() / 2**20,
            "threads": torch.get_num_threads()}


# ---------------------------------------------------------------------------------------------
# SAEDashboard (run with .venv-dash's python: --peer)


def smollm2_hooked_transformer(model_dir: Path):
    """SmolLM2 as a TransformerLens model: TransformerLens' own Llama recipe with SmolLM2's shapes."""
    import torch
    from safetensors.torch import load_file
    from sae_lens import HookedSAETransformer
    from transformer_lens import HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_llama_weights
    from transformers import LlamaConfig, LlamaForCausalLM

    raw = json.loads((model_dir / "config.json").read_text())
    rope = (raw.get("rope_parameters") or {}).get("rope_theta") or raw.get("rope_theta", 10000.0)
    hf_cfg = LlamaConfig(
        vocab_size=raw["vocab_size"], hidden_size=raw["hidden_size"], intermediate_size=raw["intermediate_size"],
        num_hidden_layers=raw["num_hidden_layers"], num_attention_heads=raw["num_attention_heads"],
        num_key_value_heads=raw["num_key_value_heads"], max_position_embeddings=raw["max_position_embeddings"],
        rms_norm_eps=raw["rms_norm_eps"], rope_theta=rope, tie_word_embeddings=True, hidden_act=raw["hidden_act"])
    hf = LlamaForCausalLM(hf_cfg)
    missing, unexpected = hf.load_state_dict(load_file(str(model_dir / "model.safetensors")), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    hf.tie_weights()
    hf.eval()
    cfg = HookedTransformerConfig(
        d_model=hf_cfg.hidden_size, d_head=hf_cfg.hidden_size // hf_cfg.num_attention_heads,
        n_heads=hf_cfg.num_attention_heads, d_mlp=hf_cfg.intermediate_size, n_layers=hf_cfg.num_hidden_layers,
        n_ctx=2048, eps=hf_cfg.rms_norm_eps, d_vocab=hf_cfg.vocab_size, act_fn="silu",
        n_key_value_heads=hf_cfg.num_key_value_heads, normalization_type="RMS", positional_embedding_type="rotary",
        rotary_adjacent_pairs=False, rotary_dim=hf_cfg.hidden_size // hf_cfg.num_attention_heads, rotary_base=rope,
        final_rms=True, gated_mlp=True, original_architecture="LlamaForCausalLM", device="cpu", dtype=torch.float32)
    model = HookedSAETransformer(cfg)
    model.load_and_process_state_dict(convert_llama_weights(hf, cfg), fold_ln=False, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=False)
    model.eval()
    return model, hf


def run_peer(tokens_file: Path, n_tokens: int, sae_dir: Path, model_dir: Path, n_features: int, work: Path) -> dict:
    import numpy as np
    import torch
    from sae_dashboard.components_config import (ActsHistogramConfig, FeatureTablesConfig, LogitsHistogramConfig,
                                                 LogitsTableConfig, SequencesConfig)
    from sae_dashboard.layout import Column, SaeVisLayoutConfig
    from sae_dashboard.sae_vis_data import SaeVisConfig
    from sae_dashboard.sae_vis_runner import SaeVisRunner
    from sae_lens import SAE

    import importlib.metadata as md

    versions = {p: md.version(p) for p in ("sae-dashboard", "sae-lens", "transformer-lens", "transformers", "torch")}
    model, hf = smollm2_hooked_transformer(model_dir)
    tokens = torch.from_numpy(np.load(tokens_file)[: -(-n_tokens // SEQ_LEN)])
    # the same model? the residual stream after block 15 from both, on a few windows
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens[:2], names_filter=HOOK, stop_at_layer=16)
        ref = hf(tokens[:2], output_hidden_states=True).hidden_states[16]
    tl = cache[HOOK]
    rel = float(((tl - ref).norm(dim=-1) / ref.norm(dim=-1))[:, 1:].max())
    del hf
    sae = SAE.load_from_disk(str(sae_dir), device="cpu", dtype="float32")
    n_features = n_features or int(sae.cfg.d_sae)
    # SaeVisRunner first folds the decoder norms into the encoder, which sae-lens refuses for Top-K SAEs.
    # Our decoder rows have unit norm (the trainer keeps them so), so the fold would change nothing: skip it.
    norms = sae.W_dec.norm(dim=-1)
    assert (norms - 1).abs().max() < 1e-2, "decoder rows are not unit-norm: folding would matter"
    sae.fold_W_dec_norm = lambda: None
    layout = SaeVisLayoutConfig(columns=[
        Column(FeatureTablesConfig()),
        Column(ActsHistogramConfig(), LogitsTableConfig(n_rows=10), LogitsHistogramConfig()),
        Column(SequencesConfig(buffer=(15, 8), compute_buffer=False, n_quantiles=10, top_acts_group_size=20,
                               quantile_group_size=2, stack_mode="stack-none")),
    ])
    cfg = SaeVisConfig(hook_point=HOOK, features=list(range(n_features)), minibatch_size_features=256,
                       minibatch_size_tokens=64, device="cpu", dtype="float32", ignore_positions=[0],
                       ignore_high_activation_norm_multiple=10.0, feature_centric_layout=layout, cache_dir=work)
    before = peak_rss_mb()
    t0 = time.perf_counter()
    data = SaeVisRunner(cfg).run(encoder=sae, model=model, tokens=tokens)
    seconds = time.perf_counter() - t0
    assert len(data.feature_data_dict) == n_features
    return {"seconds": seconds, "tokens": int(tokens.numel()), "features": n_features, "d_sae": int(sae.cfg.d_sae),
            "rss_before_mb": before, "rss_peak_mb": peak_rss_mb(), "resid_max_rel_diff": rel,
            "versions": versions, "threads": torch.get_num_threads()}


# ---------------------------------------------------------------------------------------------
# driver


def subprocess_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=16_384)
    ap.add_argument("--peer-features", type=int, default=0, help="0: all features")
    ap.add_argument("--sae", type=Path, default=ROOT / "saewidgets" / "data" / "default-sae")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--ours", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tokens-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true", help="print the table, leave the results file alone")
    args = ap.parse_args()

    if args.ours:
        print(json.dumps(run_ours(args.tokens_file, args.tokens, args.sae)))
        return
    if args.peer:
        print(json.dumps(run_peer(args.tokens_file, args.tokens, args.sae, args.model_dir, args.peer_features,
                                  args.work)))
        return

    sys.path.insert(0, str(ROOT))
    from saewidgets.models import default_model_dir
    from saewidgets.paths import cache_dir

    work = args.work or cache_dir("bench", "dashboards")
    tokens_file = work / f"tokens-{2 * args.tokens}.npy"
    if not tokens_file.exists():
        make_tokens(tokens_file, 2 * args.tokens)
    me = [sys.executable, __file__, "--sae", str(args.sae), "--tokens-file", str(tokens_file)]
    ours = subprocess_json(me + ["--ours", "--tokens", str(args.tokens)])
    ours2 = subprocess_json(me + ["--ours", "--tokens", str(2 * args.tokens)])
    if not PEER_PYTHON.exists():
        raise SystemExit(f"{PEER_PYTHON} is missing: python3 -m venv .venv-dash && "
                         ".venv-dash/bin/pip install -r bench/requirements-dashboard-peer.txt")
    peer_work = work / "peer-cache"
    subprocess.run(["rm", "-rf", str(peer_work)], check=True)
    peer = subprocess_json([str(PEER_PYTHON), __file__, "--peer", "--sae", str(args.sae), "--tokens-file",
                            str(tokens_file), "--tokens", str(args.tokens), "--model-dir", str(default_model_dir()),
                            "--peer-features", str(args.peer_features), "--work", str(peer_work)])
    report = table(ours, ours2, peer)
    print(report)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report)


def table(ours: dict, ours2: dict, peer: dict) -> str:
    d_sae = peer["d_sae"]
    peer_all = peer["seconds"] * d_sae / peer["features"]
    ours_rate = ours["tokens"] / ours["seconds"]
    peer_rate = peer["tokens"] / peer_all
    peer_rate_subset = peer["tokens"] / peer["seconds"]
    cpu = platform.processor() or platform.machine()
    name = f"SAEDashboard {peer['versions']['sae-dashboard']}"
    if peer["features"] == d_sae:
        peer_rows = [f"| {name} | {d_sae:,} | {peer['seconds']:.1f} | {peer_rate:,.0f} | 1.0× |"]
    else:  # measured on part of the features, scaled to all of them
        peer_rows = [f"| {name} (measured) | {peer['features']:,} | {peer['seconds']:.1f} | "
                     f"({peer_rate_subset:,.0f} for {peer['features']:,} features) | |",
                     f"| {name}, all features (× {d_sae // peer['features']}, scaled) | {d_sae:,} | {peer_all:.0f} | "
                     f"{peer_rate:,.0f} | 1.0× |",
                     "", f"Against the peer's rate for only {peer['features']:,} features, saewidgets' rate for all "
                     f"{d_sae:,} is {ours_rate / peer_rate_subset:.1f}×."]
    lines = [
        "# Dashboard building: saewidgets vs SAEDashboard",
        "",
        f"`python bench/bench_dashboards.py --tokens {ours['tokens']} --peer-features {peer['features']}`, one run, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores ({cpu}), torch threads {ours['threads']} "
        f"(peer {peer['threads']}), no GPU.",
        "",
        "Same model (SmolLM2-135M-Instruct, fp32; for the peer built as a TransformerLens model from the same weights: "
        f"largest relative difference of the layer-15 residual stream to Hugging Face's {peer['resid_max_rel_diff']:.1e}), "
        f"same SAE (the shipped default, {d_sae:,} features, read by sae-lens), same {ours['tokens']:,} tokens "
        "(128-token windows of the training split). Both: top-20 examples with 24 tokens of context, 10 quantile "
        "groups, activation histogram, density, logit lens; sinks excluded.",
        "",
        "| | features | seconds | tokens/s (all features) | ratio |",
        "|---|---:|---:|---:|---:|",
        f"| saewidgets (one streaming pass) | {ours['features']:,} | {ours['seconds']:.1f} | {ours_rate:,.0f} | "
        f"**{ours_rate / peer_rate:.1f}×** |",
        *peer_rows,
        "",
        "SAEDashboard loops over feature batches of 256; each batch re-reads every token's activations (from its "
        "disk cache after the first) and keeps that batch's activations for all tokens in memory. saewidgets reads "
        "each token once and keeps a fixed-size state.",
        "",
        "## Memory: peak RSS when the corpus doubles (saewidgets, fresh process each)",
        "",
        "| tokens | peak RSS (MB) | of which before the pass (model + SAE) | dashboard state (MB) |",
        "|---:|---:|---:|---:|",
        f"| {ours['tokens']:,} | {ours['rss_peak_mb']:,.0f} | {ours['rss_before_mb']:,.0f} | {ours['state_mb']:.0f} |",
        f"| {ours2['tokens']:,} | {ours2['rss_peak_mb']:,.0f} | {ours2['rss_before_mb']:,.0f} | {ours2['state_mb']:.0f} |",
        "",
        f"Peak RSS changes by {ours2['rss_peak_mb'] - ours['rss_peak_mb']:+.0f} MB when the tokens double: the state is "
        "fixed by d_sae (top-20 and 20 sampled examples with their contexts, 64 histogram bins, counters). For "
        f"comparison, SAEDashboard's peak RSS on {peer['tokens']:,} tokens and {peer['features']:,} features: "
        f"{peer['rss_peak_mb']:,.0f} MB (not measured at 2N; by its code it holds each feature batch's activations for all tokens, so its memory grows with them).",
        "",
        "Peer versions: " + ", ".join(f"{k} {v}" for k, v in peer["versions"].items()) + ".",
        "",
        "Raw measurements (JSON, one process each):",
        "",
        "```",
        *(json.dumps(r) for r in (ours, ours2, peer)),
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
