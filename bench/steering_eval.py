"""Steering evaluation: does steering a concept's SAE feature make the model talk about the concept, and
at what cost in fluency? Results in docs/steering.md.

    .venv/bin/python bench/steering_eval.py                 # 7 concepts x 72 generations, 7 batched calls
    .venv/bin/python bench/steering_eval.py --concepts dogs --prompts 2   # a quick look

For each concept (a search query and a word list):
1. the feature: the project's own search, ``lab.search(query)`` (vocabulary explanations and top tokens;
   see saewidgets/analysis/search.py), gives 5 candidates that fire on the concept; ``lab.steer_check``
   keeps the one whose clamping most raises the probability of the concept's words on a neutral exchange
   of its own (not one of the evaluation prompts); a concept may take the top n;
2. neutral chat prompts (nothing about the concept), generated greedily, ``--tokens`` new tokens, with
   every method and strength as rows of ONE batched call per concept (``generate_rows``): the unsteered
   baseline, clamp / add / amplify at several strengths, a difference-of-means steering vector at the same
   strengths (mean activation at the hook over concept sentences minus over neutral sentences, unit length,
   scaled like ``add``: strength x the feature's max activation), and prompting ("... Mention X.");
3. concept use: the share of generations with at least one word of the concept's list (whole words,
   case-insensitive, plural s allowed);
4. fluency: perplexity of each generated text on its own (BOS + text) under the unsteered model, as a
   ratio to the unsteered generations' perplexity (median over generations); and the share of repeated
   token trigrams, since a model stuck in a loop has a LOW perplexity.

Target (issue 6): clamp reaches >= 50% concept use (baseline <= 10%) at perplexity <= 2x the baseline's.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from pathlib import Path

import torch

CONCEPTS = {
    "weddings": {"query": "wedding", "words": ["wedding", "bride", "groom", "marry", "married", "marriage", "ceremony",
                                              "vows", "honeymoon", "bridal"],
                 "texts": ["The bride and groom exchanged vows at the wedding ceremony.",
                           "They got married in June and left for their honeymoon.",
                           "The wedding reception had a cake and a band.",
                           "She wore her mother's bridal gown to marry him."]},
    "the ocean": {"query": "ocean", "words": ["ocean", "oceans", "sea", "seas", "wave", "beach", "shore", "tide",
                                             "marine", "coral", "underwater", "sailing"],
                  "texts": ["The ocean waves crashed on the sandy shore.",
                            "Coral reefs grow in warm, shallow seas.",
                            "The tide came in and covered the beach.",
                            "Whales swim across the Pacific Ocean every year."]},
    "cooking": {"query": "cooking", "words": ["cook", "cooking", "cooked", "kitchen", "recipe", "bake", "baking", "chef",
                                             "oven", "ingredients", "dish", "fry", "roast"],
                "texts": ["Preheat the oven and mix the ingredients for the recipe.",
                          "The chef was cooking pasta in the kitchen.",
                          "Roast the vegetables and fry the onions until golden.",
                          "She loves baking bread on Sunday mornings."]},
    "dogs": {"query": "dog", "words": ["dog", "dogs", "puppy", "puppies", "bark", "barking", "canine", "leash",
                                      "pup", "retriever"],
             "texts": ["The dog wagged its tail and barked at the mailman.",
                       "Our puppy chews everything and loves long walks on a leash.",
                       "Golden retrievers are friendly, loyal dogs.",
                       "The dogs played fetch in the park."]},
    "music": {"query": "music", "words": ["music", "musical", "song", "songs", "melody", "band", "guitar", "piano",
                                         "sing", "singing", "concert", "album", "rhythm"],
              "texts": ["The band played a new song at the concert.",
                        "She practices piano and guitar every evening.",
                        "The melody of the album was catchy.",
                        "We were singing along to the music all night."]},
    "outer space": {"query": "galaxy", "words": ["space", "planet", "planets", "star", "stars", "galaxy", "galaxies",
                                                 "astronaut", "orbit", "rocket", "universe", "nasa", "moon", "cosmic"],
                    "texts": ["The astronaut looked at Earth from orbit.",
                              "Galaxies contain billions of stars and planets.",
                              "The rocket launched toward the Moon.",
                              "NASA studies the universe with space telescopes."]},
    "the Golden Gate Bridge": {"query": "golden gate", "n": 2,
                               "words": ["golden gate", "bridge", "bridges", "san francisco", "golden"],
                               "texts": ["The Golden Gate Bridge spans the strait in San Francisco.",
                                         "Fog rolled over the Golden Gate Bridge this morning.",
                                         "Tourists walk across the Golden Gate to see the bay.",
                                         "The famous red bridge in San Francisco is the Golden Gate."]},
}
NEUTRAL_PROMPTS = ["Tell me about your weekend.", "What should I do this afternoon?",
                   "Write a short paragraph about your day.", "Describe a place you like.",
                   "Give me some advice for tomorrow.", "What are you thinking about?"]
NEUTRAL_TEXTS = ["I went to the shop and bought some bread.", "The meeting is scheduled for Tuesday afternoon.",
                 "He finished his homework before dinner.", "Please send me the report by Friday.",
                 "The train was late again this morning.", "She read a book and went to sleep early.",
                 "We talked about our plans for next year.", "The printer on the second floor is broken."]
# Strengths in each method's unit. A first look (notebook 03) put the useful clamp range near 1x the max
# activation: this SAE's maxima are large next to the residual norm (about 60 against 170 at layer 15), so
# Scaling Monosemanticity's 10x turns the text into noise here.
STRENGTHS = {"clamp": [0.75, 1.0, 1.25, 1.5], "add": [1.0, 1.5], "amplify": [8.0, 32.0], "diffmean": [1.0, 1.5]}


def uses(text: str, words: list[str]) -> bool:
    text = text.lower()
    return any(re.search(r"\b" + re.escape(w.lower()) + r"(s|es)?\b", text) for w in words)


def repeated_trigrams(ids: list[int]) -> float:
    grams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
    return 0.0 if not grams else 1 - len(set(grams)) / len(grams)


@torch.no_grad()
def perplexities(lab, texts: list[str], batch: int = 16) -> tuple[list[float], list[list[int]]]:
    """Perplexity of each text on its own (BOS + text) under the plain model; NaN for an empty text."""
    tok = lab.tokenizer
    ids = [tok(t, add_special_tokens=False).input_ids for t in texts]
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    out = [math.nan] * len(texts)
    order = [i for i in range(len(texts)) if len(ids[i]) >= 2]
    for lo in range(0, len(order), batch):
        chunk = order[lo:lo + batch]
        n = max(len(ids[i]) for i in chunk) + 1
        x = torch.full((len(chunk), n), tok.pad_token_id or 0)
        mask = torch.zeros(len(chunk), n, dtype=torch.long)
        for r, i in enumerate(chunk):
            seq = [bos] + ids[i]
            x[r, :len(seq)], mask[r, :len(seq)] = torch.tensor(seq), 1
        logp = lab.model(input_ids=x, attention_mask=mask).logits.float().log_softmax(-1)
        nll = -logp[:, :-1].gather(-1, x[:, 1:, None])[..., 0] * mask[:, 1:]
        for r, i in enumerate(chunk):
            out[i] = math.exp(float(nll[r].sum() / mask[r, 1:].sum()))
    return out, ids


def find_features(lab, spec: dict) -> list[int]:
    """Search's top 5 for the query, re-ranked by ``lab.steer_check`` (its neutral exchange is none of ours)."""
    df = lab.search(spec["query"], k=max(spec.get("n", 1), 5))
    if not len(df):  # no search hit: contrast sets
        df = lab.contrast(spec["texts"], NEUTRAL_TEXTS, k=5)
    checked = lab.steer_check(df.feature[:5], spec["words"])
    return [int(f) for f in checked.feature[: spec.get("n", 1)]]


@torch.no_grad()
def mean_direction(lab, texts: list[str]) -> torch.Tensor:
    from saewidgets.activations import sink_mask

    rows = []
    for t in texts:
        _, acts = lab.activations(t)
        rows.append(acts[~sink_mask(acts[None])[0]].float())
    return torch.cat(rows).mean(0)


def run_concept(lab, name: str, spec: dict, prompts: list[str], tokens: int) -> tuple[list[dict], list[int], float]:
    from saewidgets import hooks
    from saewidgets.generation import generate_rows
    from saewidgets.steering import _not_sink, max_activations

    features = find_features(lab, spec)
    unit = float(max_activations(lab.sae, features).mean())
    v = mean_direction(lab, spec["texts"]) - mean_direction(lab, NEUTRAL_TEXTS)
    v = v / v.norm()
    plan = [("baseline", None, None, None)]
    for method in ("clamp", "add", "amplify"):
        plan += [(method, s, {f: s for f in features}, method) for s in STRENGTHS[method]]
    plan += [("diffmean", s, None, None) for s in STRENGTHS["diffmean"]]
    plan += [("prompting", None, None, None)]
    rows, prompt_ids, vectors, meta = [], [], [], []
    for p in prompts:
        for label, s, steer, method in plan:
            asked = f"{p} Mention {name} in your answer." if label == "prompting" else p
            prompt_ids.append(lab.chat_ids(asked))
            rows.append((steer, method or "clamp"))
            vectors.append(v * s * unit if label == "diffmean" else torch.zeros_like(v))
            meta.append((p, label, s))
    longest = max(len(i) for i in prompt_ids)
    pad = [longest - len(i) for i in prompt_ids]
    V = torch.stack(vectors)[:, None, :]

    def add_vectors(h):
        return (h.float() + V.to(h.device) * _not_sink(h.float(), pad)).to(h.dtype)

    t = time.perf_counter()
    with hooks.edit(lab.model, lab.hook, add_vectors):
        out = generate_rows(lab, prompt_ids, rows, max_new_tokens=tokens)
    gen_s = time.perf_counter() - t
    ppl, ids = perplexities(lab, out.texts)
    results = [{"concept": name, "features": features, "prompt": p, "method": label, "strength": s, "text": text,
                "uses": uses(text, spec["words"]), "ppl": q, "rep": repeated_trigrams(i)}
               for (p, label, s), text, q, i in zip(meta, out.texts, ppl, ids)]
    return results, features, gen_s


def summarise(results: list[dict]) -> list[dict]:
    """Per method and strength over every concept: concept use, median perplexity ratio, repetition."""
    base = {}
    for r in results:
        if r["method"] == "baseline" and not math.isnan(r["ppl"]):
            base.setdefault(r["concept"], []).append(r["ppl"])
    base = {c: statistics.median(v) for c, v in base.items()}
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["method"], r["strength"]), []).append(r)
    order = ["baseline", "prompting", "clamp", "add", "amplify", "diffmean"]
    rows = []
    for (method, s), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] or 0)):
        ratios = [r["ppl"] / base[r["concept"]] for r in rs if not math.isnan(r["ppl"]) and r["concept"] in base]
        rows.append({"method": method, "strength": s, "n": len(rs), "use": sum(r["uses"] for r in rs) / len(rs),
                     "ppl_ratio": statistics.median(ratios) if ratios else math.nan,
                     "rep": statistics.mean(r["rep"] for r in rs)})
    return rows


def recommend(summary: list[dict]) -> dict[str, float | None]:
    """Per method: the smallest strength with >= 50% concept use at perplexity <= 2x; else the best use there."""
    out = {}
    for method in ("clamp", "add", "amplify", "diffmean"):
        rows = [r for r in summary if r["method"] == method]
        ok = [r for r in rows if r["ppl_ratio"] <= 2.0 and r["rep"] < 0.5]
        hit = [r for r in ok if r["use"] >= 0.5]
        pick = min(hit, key=lambda r: r["strength"]) if hit else max(ok, key=lambda r: r["use"]) if ok else None
        out[method] = None if pick is None else pick["strength"]
    return out


def markdown(summary, per_concept, features, recommended, seconds, args) -> str:
    lines = [f"Default model, greedy, {args.tokens} new tokens, {args.prompts} neutral prompts x "
             f"{len(per_concept)} concepts = {args.prompts * len(per_concept)} generations a row; "
             f"run time {seconds / 60:.1f} min (`bench/steering_eval.py`).", "",
             "| method | strength | concept use | perplexity ÷ baseline | repeated trigrams |", "|---|---|---|---|---|"]
    for r in summary:
        s = "" if r["strength"] is None else f"{r['strength']:g}"
        lines.append(f"| {r['method']} | {s} | {r['use']:.0%} | {r['ppl_ratio']:.2f} | {r['rep']:.0%} |")
    lines += ["", "Per concept (feature: `lab.search` top 5 re-ranked by `lab.steer_check`; concept use of clamp at each strength; baseline; prompting):", "",
              "| concept | feature(s) | baseline | " + " | ".join(f"clamp {s:g}" for s in STRENGTHS["clamp"])
              + " | prompting |", "|---|---|---|" + "---|" * (len(STRENGTHS["clamp"]) + 1)]
    for concept, rs in per_concept.items():
        def use(method, s=None):
            sel = [r for r in rs if r["method"] == method and (s is None or r["strength"] == s)]
            return f"{sum(r['uses'] for r in sel) / len(sel):.0%}" if sel else ""
        lines.append(f"| {concept} | {', '.join(map(str, features[concept]))} | {use('baseline')} | "
                     + " | ".join(use("clamp", s) for s in STRENGTHS["clamp"]) + f" | {use('prompting')} |")
    lines += ["", "Recommended default strengths (smallest with ≥ 50% concept use at perplexity ≤ 2× and under 50% "
              "repeated trigrams; else the most concept use within those limits): "
              + ", ".join(f"{m} {'—' if s is None else f'{s:g}'}" for m, s in recommended.items())]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concepts", nargs="*", default=list(CONCEPTS))
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="bench/results/steering_eval")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import saewidgets as sw

    lab = sw.load()
    start = time.perf_counter()
    results, per_concept, features = [], {}, {}
    for name in args.concepts:
        rs, feats, gen_s = run_concept(lab, name, CONCEPTS[name], NEUTRAL_PROMPTS[: args.prompts], args.tokens)
        results += rs
        per_concept[name], features[name] = rs, feats
        print(f"{name}: features {feats}, {len(rs)} generations in one batch, {gen_s:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    summary = summarise(results)
    recommended = recommend(summary)
    text = markdown(summary, per_concept, features, recommended, seconds, args)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps({"summary": summary, "recommended": recommended,
                                                    "features": features, "generations": results}, indent=1))


if __name__ == "__main__":
    main()
