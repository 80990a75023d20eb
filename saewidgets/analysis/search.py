"""Finding features by words, by text, and by contrasting two sets of texts.

    lab.search("bridge")                       # words → features (vocabulary explanations + logit lens + top tokens)
    lab.search(text="The Golden Gate Bridge")  # the features most active on a text
    lab.contrast(["The bridge spans the bay."], ["The cat sat on the mat."])   # features that separate two sets

All return a DataFrame with a ``feature`` column, best first, and an ``explanation`` column.

**Word search.** For each query word ``w`` (known when it is in the explanation vocabulary or in
``wordfreq``'s English list) and every feature ``c``, four signals, each scaled to [0, 1]:

- *writes*: the mutual-information score ``p(w|c)·log(p(c|w)·n)`` of the vocabulary explanations
  (``explain.py``), from ``S[c, w] = C[c]·E[w]`` — the feature's logit-lens logit for the word. One
  matrix-vector product gives it for every feature, so any word works, in the vocabulary or not; the
  per-feature normaliser ``logsumexp_w S`` is stored with the explanations. Scaled by its maximum over
  features.
- *fires*: the feature's largest activation on the word in two short phrases (``PROBES``, one batched
  forward up to the hook layer), divided by its maximum activation and weighted by its specificity
  (rare features count fully, one that fires on a third of all tokens hardly at all). For the
  vocabulary words it is precomputed (``probe_table``: each word's top 32 features, shipped with the
  default SAE's explanations), so a search needs no forward pass; other words are probed on the spot.
- *context*: how much the word characterises the contexts the feature fires in (context MI,
  ``p(w|c)·log(p(w|c)/p(w))`` with ``w`` within 16 tokens of a firing; the word's top 32 features,
  gathered by ``lab.prepare``'s pass, scaled by the word's best). Zero for SAEs not prepared yet.
- *reads*: the word's tokens (`` word``, ``word``, `` Word``, ``Word`` when single tokens) among the
  feature's top-activation tokens, weighted by their mean activation relative to the feature's first
  one and by rank.

``score = Σ WEIGHTS[signal] · signal`` summed over the query's words, with the weights chosen on the
concept benchmark (``bench/concept_bench.py``, ``docs/explanations.md``): features that fire on the word
or on text about it come first (what a concept search is for); among them, those that also promote it. A query with no known word gives an empty DataFrame with a
message in ``df.attrs["message"]`` (and printed), never an exception.

**Text search** ranks features by their largest activation on the text divided by the feature's
maximum activation (from the SAE's statistics), so a rare, specific feature near its maximum comes
before a dense one that is always mildly on.

**Contrast** encodes every text, takes each feature's largest activation over a text's tokens as that
text's value (attention sinks excluded), and ranks features by AUROC (the probability that a positive
text has a larger value than a negative one; ties count half), then by the difference of means.
"""

from __future__ import annotations

import re
import warnings
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import explain as ex_mod
from .logit_lens import feature_vectors
from ..checks import check_k
from ..hooks import run_to
from ..tokens import single_token_ids

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def query_words(query: str) -> list[str]:
    return [w.lower().strip("'-") for w in _WORD.findall(query or "") if w.strip("'-")]


def known_word(word: str, vocab: set[str]) -> bool:
    if word in vocab:
        return True
    try:
        import wordfreq
    except ImportError:
        return False
    return wordfreq.zipf_frequency(word, "en") > 0


class TokenIndex:
    """For each token id, the features that have it among their top-activation tokens, with a weight."""

    def __init__(self, ex: ex_mod.Explanations):
        ids, acts = ex.arrays["token_ids"], ex.arrays["token_acts"].astype(np.float32)
        n, k = ids.shape
        first = np.maximum(acts[:, :1], 1e-12)
        # relative to the feature's strongest token, and a little less for lower ranks
        weight = (acts / first) * (1.0 - 0.05 * np.arange(k))[None]
        keep = acts > 0
        self.token = ids[keep].astype(np.int64)
        self.feature = np.broadcast_to(np.arange(n)[:, None], ids.shape)[keep]
        self.weight = weight[keep].astype(np.float32)
        order = np.argsort(self.token, kind="stable")
        self.token, self.feature, self.weight = self.token[order], self.feature[order], self.weight[order]
        self.n = n

    def scores(self, token_ids: Iterable[int]) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        for t in set(token_ids):
            lo, hi = np.searchsorted(self.token, [t, t + 1])
            np.maximum.at(out, self.feature[lo:hi], self.weight[lo:hi])
        return out


def _token_index(ctx, ex: ex_mod.Explanations) -> TokenIndex:
    """The token index of the SAE's explanations (kept in its store)."""
    return ctx.store.derived("token_index", lambda: TokenIndex(ex), id(ex))


def _empty(message: str, columns: Sequence[str]) -> pd.DataFrame:
    print(f"saewidgets: {message}")
    df = pd.DataFrame(columns=list(columns))
    df.attrs["message"] = message
    return df


WORD_COLUMNS = ["feature", "score", "fires", "context", "reads", "writes", "explanation", "top_tokens"]
PROBES = ("This is about {word}.", "I saw the {word} there.")
# chosen by bench/search_weights.py: on the concept benchmark every other signal, added at any weight of its
# grid, lowered precision@5 (fires alone 0.47; + context 0.39, + reads 0.40, + writes 0.42); they stay as
# columns, so a person can sort by them
WEIGHTS = {"fires": 1.0, "context": 0.0, "reads": 0.0, "writes": 0.0}


def context_signal(ex: ex_mod.Explanations, word: str) -> np.ndarray:
    """The *context* signal of ``word``: for its top features by context MI (``lab.prepare``), the MI
    term scaled by the word's best; zeros when the SAE has no context counts or the word is not in the
    vocabulary."""
    out = np.zeros(ex.d_sae, dtype=np.float32)
    table = ex.arrays.get("context_word_features")
    row = _word_rows(ex).get(word) if table is not None else None
    if row is None:
        return out
    values = ex.arrays["context_word_values"][row].astype(np.float32)
    if values.max(initial=0) > 0:
        out[table[row].astype(np.int64)] = np.clip(values / values.max(), 0, 1)
    return out


def _specificity(sae) -> torch.Tensor | None:
    """1 for rare features, falling towards 0 for dense ones: ``clip(-log10(frequency) / 4, 0.05, 1)``."""
    stats = getattr(sae, "stats", None) or {}
    freq = stats.get("frequency")
    if freq is None:
        return None
    return (-torch.as_tensor(freq).float().clamp(min=1e-8).log10() / 4).clamp(0.05, 1.0).cpu()


def probe(lab, word: str) -> np.ndarray:
    """How strongly each feature fires on ``word`` in a few short phrases (``PROBES``), in [0, 1].

    The largest activation on the word's own tokens, divided by the feature's maximum activation and
    weighted by its specificity (a feature that fires on a third of all tokens says little). The phrases
    run as one right-padded batch, up to the hook layer only.
    """
    return probe_many(lab, [word])[0].numpy()


def _probe_rows(lab, word: str) -> list[tuple[list[int], list[int]]]:
    """Each probe phrase's token ids and the positions of ``word`` in it."""
    rows = []
    for template in PROBES:
        text = template.format(word=word)
        start = template.index("{word}")
        ids = lab.tokenize(text)
        enc = lab.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        shift = len(ids) - len(enc.input_ids)   # the BOS the Lab puts in front
        pos = [n + shift for n, (a, b) in enumerate(enc["offset_mapping"]) if b > start and a < start + len(word)]
        rows.append((ids, pos or list(range(shift, len(ids)))))
    return rows


@torch.no_grad()
def probe_many(lab, words: Sequence[str], batch_words: int = 64, progress: bool = False) -> torch.Tensor:
    """``probe`` for many words at once: ``[len(words), d_sae]``, the phrases batched ``batch_words`` at a time."""
    sae = lab.sae
    scale, spec = _max_activation(sae), _specificity(sae)
    pad = lab.tokenizer.pad_token_id if lab.tokenizer.pad_token_id is not None else 0
    out = []
    for lo in tqdm(range(0, len(words), batch_words), desc="probe words", disable=not progress):
        chunk = words[lo:lo + batch_words]
        rows = [(n, ids, pos) for n, w in enumerate(chunk) for ids, pos in _probe_rows(lab, w)]
        width = max(len(ids) for _, ids, _ in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for _, r, _ in rows], device=lab.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for _, r, _ in rows], device=lab.device)
        acts = run_to(lab.model, lab.hook, ids, attention_mask=mask)
        picked = torch.cat([acts[i, pos] for i, (_, _, pos) in enumerate(rows)])
        owner = torch.tensor([n for n, _, pos in rows for _ in pos], device=picked.device)
        values = sae.encode(picked.to(sae.dtype)).float().cpu()
        with warnings.catch_warnings():  # index_reduce_ is marked beta; its "amax" is what we need
            warnings.simplefilter("ignore", UserWarning)
            best = torch.zeros(len(chunk), values.shape[1]).index_reduce_(0, owner.cpu(), values, "amax",
                                                                          include_self=False)
        out.append(best)
    best = torch.cat(out)
    rel = best / scale.clamp(min=1e-6) if scale is not None else best / best.amax(1, keepdim=True).clamp(min=1e-6)
    if spec is not None:
        rel = rel * spec
    return rel.clamp(0, 1)


PROBE_TOP = 32  # features kept per vocabulary word in the precomputed probe table


def probe_table(lab, words: Sequence[str], top: int = PROBE_TOP, progress: bool = True,
                on_chunk=None) -> dict[str, np.ndarray]:
    """The *fires* signal of every vocabulary word, precomputed (its ``top`` features, fp16), so a word
    search needs no forward pass. Stored with the explanations as ``probe_features`` / ``probe_values``.
    ``on_chunk(n_words)`` runs after each chunk of words (a caller's progress bar)."""
    feats, vals = [], []
    for lo in range(0, len(words), 1024):
        rel = probe_many(lab, list(words[lo:lo + 1024]), progress=progress)
        if on_chunk is not None:
            on_chunk(len(words[lo:lo + 1024]))
        v, f = rel.topk(min(top, rel.shape[1]), dim=1)
        feats.append(f.numpy().astype(np.uint16 if rel.shape[1] <= 2**16 else np.int32))
        vals.append(v.numpy().astype(np.float16))
    return {"probe_features": np.concatenate(feats), "probe_values": np.concatenate(vals)}


def fires(lab, ex: ex_mod.Explanations, word: str) -> np.ndarray:
    """The *fires* signal of ``word``: from the precomputed table when the word is in it, else probed now."""
    table = ex.arrays.get("probe_features")
    row = _word_rows(ex).get(word) if table is not None else None
    if row is None:
        return probe(lab, word)
    out = np.zeros(ex.d_sae, dtype=np.float32)
    out[table[row].astype(np.int64)] = ex.arrays["probe_values"][row].astype(np.float32)
    return out


def _word_rows(ex: ex_mod.Explanations) -> dict[str, int]:
    rows = ex.__dict__.get("_word_rows")
    if rows is None:
        rows = ex.__dict__["_word_rows"] = {w: i for i, w in enumerate(ex.words)}
    return rows


@torch.no_grad()
def word_signals(lab, ex: ex_mod.Explanations, words: Sequence[str], probe_words: bool = True) -> dict[str, np.ndarray]:
    """The four signals of every feature for known ``words`` (see the module docstring), each ``[d_sae]``."""
    C = feature_vectors(lab)
    E = ex_mod.word_vectors(lab.model, lab.tokenizer, list(words)).to(C.device)
    S = C @ E.T                                                    # [n, q]: logit-lens logit of each word
    lse_w = torch.from_numpy(ex.arrays["lse_words"]).to(S.device)[:, None]
    log_p_c_w = S - S.logsumexp(0, keepdim=True)
    mi = (S - lse_w).exp() * (log_p_c_w + np.log(len(C)))          # p(w|c) · log(p(c|w) n)
    writes = (mi / mi.max(0, keepdim=True).values.clamp(min=1e-12)).clamp(min=0).sum(1).cpu().numpy()
    index = _token_index(lab, ex)
    out = {name: np.zeros(len(C), dtype=np.float32) for name in ("fires", "context", "reads")}
    for w in words:
        out["reads"] += index.scores(single_token_ids(lab.tokenizer, w))
        out["context"] += context_signal(ex, w)
        if probe_words:
            out["fires"] += fires(lab, ex, w)
    out["writes"] = writes.astype(np.float32)
    return out


def combine(signals: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
    """The search score: the weighted sum of the signals (``WEIGHTS`` unless given)."""
    weights = WEIGHTS if weights is None else weights
    return sum(weights[name] * signals[name] for name in weights)


@torch.no_grad()
def search_words(lab, query: str, k: int = 20, probe_words: bool = True) -> pd.DataFrame:
    """Features for the words of ``query``, best first (see the module docstring).

    ``probe_words=False`` skips the *fires* signal (the one forward pass): a few milliseconds instead of
    a forward's worth, ranking by what features read (top tokens) and write (vocabulary explanations).
    """
    lab.need_sae()
    ex = ex_mod.explanations(lab, tokens=False)
    vocab = set(ex.words)
    words = query_words(query)
    known = [w for w in words if known_word(w, vocab)]
    if not known:
        what = f"no known word in {query!r}" if words else f"no word in {query!r}"
        return _empty(f"{what}; try an English word such as 'bridge' or 'music'.", WORD_COLUMNS)
    signals = word_signals(lab, ex, known, probe_words)
    fired, context, reads, writes = (signals[n] for n in ("fires", "context", "reads", "writes"))
    score = combine(signals)
    k = min(k, len(score))
    top = np.argpartition(-score, k - 1)[:k]
    top = top[np.argsort(-score[top], kind="stable")]
    df = pd.DataFrame({"feature": top.astype(int), "score": score[top].astype(float),
                       "fires": fired[top].astype(float), "context": context[top].astype(float),
                       "reads": reads[top].astype(float),
                       "writes": writes[top].astype(float),
                       "explanation": [", ".join(ex.shown(int(f), lab.tokenizer, 5)[1]) for f in top],
                       "top_tokens": [", ".join(repr(t) for t in ex.token_texts(lab.tokenizer, ex.top_token_ids(int(f), 4)))
                                      for f in top]})
    unknown = [w for w in words if w not in known]
    df.attrs["words"] = known
    if unknown:
        df.attrs["message"] = f"ignored unknown words: {', '.join(unknown)}"
    return df


def _max_activation(sae) -> torch.Tensor | None:
    stats = getattr(sae, "stats", None) or {}
    m = stats.get("max_activation")
    return None if m is None else torch.as_tensor(m).float().cpu()


@torch.no_grad()
def search_text(lab, text: str, k: int = 20) -> pd.DataFrame:
    """The features most active on ``text``: largest activation ÷ the feature's maximum, best first."""
    fa = lab.encode(text)
    values = fa.values
    peak, where = values.max(0)
    fired = (values > 0).sum(0)
    scale = _max_activation(lab.sae)
    rel = peak / scale.clamp(min=1e-6) if scale is not None else peak / peak.max().clamp(min=1e-6)
    rel = torch.where(peak > 0, rel, torch.zeros_like(rel))
    k = min(k, int((peak > 0).sum()))
    if k == 0:
        return _empty(f"no feature fires on {text!r}.", ["feature", "score", "activation", "token", "tokens_fired",
                                                         "explanation"])
    top = rel.topk(k).indices
    ex = ex_mod.explanations_or_none(lab)
    return pd.DataFrame({
        "feature": top.numpy().astype(int), "score": rel[top].numpy().astype(float),
        "activation": peak[top].numpy().astype(float), "token": [fa.tokens[int(where[f])] for f in top],
        "tokens_fired": fired[top].numpy().astype(int),
        "explanation": [ex.text(int(f), lab.tokenizer, 4, 2) if ex else "" for f in top]})


def search(lab, query: str | None = None, *, text: str | None = None, k: int = 20,
           probe_words: bool = True) -> pd.DataFrame:
    """``lab.search(query)`` (features for words) or ``lab.search(text=...)`` (features active on a text)."""
    if (query is None) == (text is None):
        raise ValueError("pass either a query of words, lab.search('bridge'), or a text, lab.search(text='...').")
    k = check_k(k)
    if text is not None:
        return search_text(lab, text, k)
    if not isinstance(query, str):
        raise TypeError(f"query must be a string (got {type(query).__name__}).")
    return search_words(lab, query, k, probe_words)


# ---------------------------------------------------------------------------------------------
# Contrast sets


@torch.no_grad()
def text_values(lab, texts: Sequence[str]) -> torch.Tensor:
    """``[len(texts), d_sae]``: each feature's largest activation over each text's tokens."""
    if isinstance(texts, str):
        texts = [texts]
    return torch.stack([lab.encode(t).values.max(0).values for t in texts])


def auroc(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Per column, P(a positive value > a negative value) + ½ P(equal): the Mann–Whitney U over n₊·n₋ (scipy)."""
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(pos.numpy(), neg.numpy(), axis=0, method="asymptotic").statistic
    return torch.from_numpy(np.asarray(u, dtype=np.float64) / (len(pos) * len(neg))).float()


def contrast(lab, positive_texts: Sequence[str], negative_texts: Sequence[str], k: int = 20,
             by: str = "auroc") -> pd.DataFrame:
    """Features ranked by how well they separate ``positive_texts`` from ``negative_texts``.

    Columns: feature, auroc, diff (mean positive − mean negative of per-text max activation), mean_pos,
    mean_neg, frac_pos / frac_neg (share of texts where it fires), explanation. ``by="auroc"`` ranks by
    AUROC then diff; ``by="diff"`` by diff.
    """
    if isinstance(positive_texts, str) or isinstance(negative_texts, str):
        raise TypeError("pass lists of texts: lab.contrast(['a text', ...], ['another', ...]).")
    if not positive_texts or not negative_texts:
        raise ValueError("contrast needs at least one positive and one negative text.")
    if by not in ("auroc", "diff"):
        raise ValueError(f"by must be 'auroc' or 'diff' (got {by!r}).")
    pos, neg = text_values(lab, positive_texts), text_values(lab, negative_texts)
    mean_pos, mean_neg = pos.mean(0), neg.mean(0)
    diff = mean_pos - mean_neg
    auc = auroc(pos, neg)
    # rank: AUROC, then the difference of means scaled to the largest one (ties broken in its favour)
    scale = diff.abs().max().clamp(min=1e-12)
    key = auc + 1e-3 * diff / scale if by == "auroc" else diff
    key = torch.where(diff > 0, key, key - 10.0)  # a feature stronger on the negatives never comes first
    k = min(k, len(key))
    top = key.topk(k).indices
    ex = ex_mod.explanations_or_none(lab)
    return pd.DataFrame({
        "feature": top.numpy().astype(int), "auroc": auc[top].numpy().astype(float),
        "diff": diff[top].numpy().astype(float), "mean_pos": mean_pos[top].numpy().astype(float),
        "mean_neg": mean_neg[top].numpy().astype(float),
        "frac_pos": (pos[:, top] > 0).float().mean(0).numpy().astype(float),
        "frac_neg": (neg[:, top] > 0).float().mean(0).numpy().astype(float),
        "explanation": [ex.text(int(f), lab.tokenizer, 4, 2) if ex else "" for f in top]})
