"""Add the co-occurrence artefacts to the shipped default SAE without rebuilding its dashboards.

    .venv/bin/python scripts/add_default_cooccurrence.py --tokens 300000      # progress on stderr

``lab.prepare`` gathers everything in one pass; for the default SAE the shipped dashboards come from a
1M-token pass that took about 20 minutes, so this script runs the same streaming pass (the same
accumulators, ``analysis/cooccurrence.py``) over the first ``--tokens`` of the corpus's train split for
the counts alone, then writes into ``saewidgets/data/default-sae/``:

- ``coactivation.npz`` (co-activation neighbours),
- the context-MI words and the per-method detection qualities into ``explanations.npz`` (the qualities
  scored on the shipped dashboards' sampled firings),
- ``feature_map_coactivation.npz`` (UMAP of the co-activation graph) and new cluster labels for
  ``feature_map.npz`` (its layout kept).

The pass is checkpointed (``--state``) every two minutes, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=300_000)
    parser.add_argument("--state", default="logs/default-cooccurrence-state.pt")
    args = parser.parse_args(argv)
    import saewidgets as sw
    from saewidgets.analysis import coactivation as coact_mod
    from saewidgets.analysis import dashboards as dash
    from saewidgets.analysis import explain as ex_mod
    from saewidgets.analysis import feature_map as fm
    from saewidgets.analysis.dashboard_pass import DashboardConfig, run_pass
    from saewidgets.analysis.prepare import counting_builder
    from saewidgets.corpus import available_documents, token_windows
    from saewidgets.paths import DEFAULT_SAE_DIR

    lab = sw.load()
    sae, store = lab.sae, lab.store
    ex = ex_mod.explanations(lab, progress=False)
    d, _ = dash.dashboards(lab, progress=False)
    config = DashboardConfig()
    builder = counting_builder(lab, ex.words, config)
    state_path = Path(args.state)
    skip = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        if state["tokens"] == args.tokens:
            builder.load_state_dict(state["builder"])
            skip = state["windows"]
            print(f"resuming after {skip} windows", flush=True)
    last = [time.perf_counter()]

    def checkpoint(b, windows_done):
        if time.perf_counter() - last[0] > 120:
            state_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"tokens": args.tokens, "windows": windows_done, "builder": b.state_dict()},
                       state_path.with_suffix(".tmp"))
            state_path.with_suffix(".tmp").replace(state_path)
            last[0] = time.perf_counter()

    docs = (doc["text"] for doc in available_documents("train"))
    windows = token_windows(lab.tokenizer, docs, seq_len=config.seq_len)
    _, meta = run_pass(lab.model, lab.hook, sae, windows, args.tokens, config, True, {"texts": "corpus train split"},
                       builder=builder, skip_windows=skip, on_batch=checkpoint)
    print("pass done:", meta["tokens"], "tokens", flush=True)

    started = time.perf_counter()
    ex_mod.add_context(ex, builder.context)
    ex_mod.add_quality(ex, d.arrays, lab.tokenizer)
    ex.meta["context"]["tokens"] = int(meta["tokens"])
    ex.save(DEFAULT_SAE_DIR / ex_mod.FILE)
    table = coact_mod.from_counts(lab, builder.coactivation, int(meta["tokens"]))
    table.save(DEFAULT_SAE_DIR / coact_mod.FILE)
    store.put(ex_mod.KIND, ex, "shipped")
    store.put(coact_mod.KIND, table, "shipped")
    print(f"explanations and co-activation written ({time.perf_counter() - started:.0f} s)", flush=True)
    builder = None

    decoder_map = fm.FeatureMap.load(DEFAULT_SAE_DIR / fm.FILE)
    decoder_map.labels = fm.cluster_labels(decoder_map.cluster, decoder_map.features, ex, tokenizer=lab.tokenizer)
    decoder_map.save(DEFAULT_SAE_DIR / fm.FILE)
    coact_map = fm.compute(lab, "umap", progress=True, ex=ex, by="coactivation")
    coact_map.save(DEFAULT_SAE_DIR / fm.KIND_COACTIVATION.file)
    print("maps written; labels:", coact_map.labels[:12], flush=True)
    if state_path.is_file():
        state_path.unlink()


if __name__ == "__main__":
    main()
