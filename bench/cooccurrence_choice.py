"""Which co-activation similarity and which context radius? The concept benchmark decides.

    .venv/bin/python bench/cooccurrence_choice.py --tokens 200000

One streaming pass over the corpus's train split counts co-activation in segments of 1 token (the same
token) and of 16 tokens, and context words within 16 tokens, on the default SAE. Then neighbour
coherence@10 is measured for every (segment, similarity) and decoder cosine, and the context-MI
explanations' naming rate, beside the shipped methods. The choice made from it is in
``docs/explanations.md``; ``lab.prepare`` uses it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import concept_bench as cb  # noqa: E402
from concepts import CONCEPTS, NEUTRAL  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--json", default="bench/results/cooccurrence-choice.json")
    args = parser.parse_args(argv)
    import saewidgets as sw
    from saewidgets.activations import sink_mask
    from saewidgets.analysis import cooccurrence as co
    from saewidgets.analysis import explain as ex_mod
    from saewidgets.corpus import available_documents, token_windows
    from saewidgets.hooks import run_to

    lab = sw.load()
    sae = lab.sae
    table = ex_mod.explanations(lab, progress=False)
    counts = {seg: co.Coactivation(sae.d_sae, seg) for seg in (1, 16)}
    words = co.token_words(lab.tokenizer, table.words)
    context = co.ContextWords(sae.d_sae, words, len(table.words), radius=16)
    docs = (d["text"] for d in available_documents("train"))
    windows = token_windows(lab.tokenizer, docs, seq_len=128)
    started = time.perf_counter()
    batch = []
    bar = tqdm(total=args.tokens, unit="tok", unit_scale=True)
    seen = 0
    with torch.no_grad():
        for w in windows:
            batch.append(torch.as_tensor(np.asarray(w)))
            if len(batch) < 16:
                continue
            ids = torch.stack(batch)
            batch = []
            acts = run_to(lab.model, lab.hook, ids)
            values, indices = sae.encode_sparse(acts.to(sae.dtype))
            valid = ~sink_mask(acts)
            for c in counts.values():
                c.update(indices, values > 0, valid)
            context.update(ids, indices, values > 0, valid)
            seen += ids.numel()
            bar.update(ids.numel())
            if seen >= args.tokens:
                break
    bar.close()
    pass_seconds = time.perf_counter() - started

    scale = cb.max_activation(lab)
    neutral_max = cb.sentence_maxima(lab, NEUTRAL).max(0).values
    masks, bests = {}, {}
    for c in CONCEPTS:
        acts = cb.sentence_maxima(lab, c.sentences)
        masks[c.name] = cb.selective(acts, neutral_max, scale)
        bests[c.name] = cb.best_feature(acts, masks[c.name], scale)

    def coherence(neighbours) -> float:
        out = []
        for c in CONCEPTS:
            best = bests[c.name]
            ids = neighbours(best)[:10] if best is not None else []
            out.append(np.mean([bool(masks[c.name][f]) for f in ids]) if len(ids) else 0.0)
        return float(np.mean(out))

    from saewidgets.analysis.neighbors import neighbors as decoder_neighbors

    result = {"tokens": seen, "pass_seconds": round(pass_seconds, 1),
              "coherence@10": {"decoder": coherence(lambda f: decoder_neighbors(sae, f, 10)[0])}}
    for seg, c in counts.items():
        for how in co.SIMILARITIES:
            ids, sims = co.top_partners(c, 10, how)
            result["coherence@10"][f"segment {seg}, {how}"] = coherence(lambda f: ids[f][np.isfinite(sims[f])])
    skip = torch.zeros(len(table.words), dtype=torch.bool)
    import wordfreq

    frequent = set(wordfreq.top_n_list("en", 150))
    skip[[i for i, w in enumerate(table.words) if w in frequent]] = True
    c_ids, c_scores = co.context_mi(context, 10, skip)
    table.arrays["context_ids"], table.arrays["context_scores"] = c_ids, c_scores
    named = {}
    for m in ("vocabulary", "tokens", "context"):
        named[m] = float(np.mean([cb.names(table.entries(bests[c.name], m, lab.tokenizer, 5), c.names)
                                  if bests[c.name] is not None else False for c in CONCEPTS]))
    result["names"] = named
    result["context examples"] = {c.name: table.context_words(bests[c.name], 6) for c in CONCEPTS
                                  if bests[c.name] is not None}
    print(json.dumps(result, indent=2))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    torch.save({"context": context.state_dict(), "co16": counts[16].state_dict()},
               Path("logs") / "cooccurrence-choice.counts.pt")


if __name__ == "__main__":
    main()
