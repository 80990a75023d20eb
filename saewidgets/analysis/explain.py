"""Feature explanations without an LLM: vocabulary words ranked by mutual information, and top tokens.

Two explanations of every feature, both cheap and offline:

- **vocabulary words** (Wu et al. 2025). A fixed vocabulary of frequent English words (the ``wordfreq``
  package's list, alphabetic words of two letters or more, ``N_WORDS`` of them). Each word is embedded
  as the mean of the unembedding rows of its sub-tokens, written as in running text (with a leading
  space: ``" bridge"``). Each feature's vector is its decoder row passed through the model's final norm,
  exactly as the logit lens of the dashboards does (``dashboards.logit_lens``: ``final_norm(W_dec[f]) -
  final_norm(0)``), so a feature–word score is the logit the feature's direction gives the word:
  ``S = C·Eᵀ``. Then ``p(w|c) = softmax_w S``, ``log p(c|w) = log_softmax_c S`` and

      score(w, c) = p(w|c) · log(p(c|w) / p(c)),   p(c) = 1 / n_features (uniform),

  the word's contribution to the mutual information between words and features. (The constant
  ``log n_features`` is what makes the score rank: ``p(w|c)·log p(c|w)`` alone is never positive and
  would put words the feature hardly predicts first.) A word every feature promotes (``the``) gets a
  low ``p(c|w)`` everywhere and so drops out. The top ``TOP_WORDS`` words per feature are kept.
- **top tokens**: the tokens with the highest mean activation over the feature's top activating
  examples (from the dashboards), what the feature *reads* rather than what it *writes*.

``lab.explain(f)`` returns both. They live in the SAE's feature store (``explanations.npz``: word ids
uint16, scores fp16, token ids uint16, and the word search's probe table), shipped for the default SAE
and written by ``lab.prepare`` for any other; else computed on first use (seconds), with a notice, and
cached.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import npz_store
from .dashboards import Dashboards, dashboards, dashboards_at_hand
from .cooccurrence import ContextWords, context_mi, word_features
from .explanation_quality import UNCLEAR_BELOW, in_sample
from .feature_view import top_tokens
from .logit_lens import feature_vectors
from ..checks import check_feature
from ..paths import DEFAULT_SAE_DIR
from ..store import Kind
from ..tokens import word_subtokens

FILE = "explanations.npz"
FORMAT = 1
N_WORDS = 8000       # vocabulary size
TOP_WORDS = 10       # words kept per feature
TOP_TOKENS = 8       # top-activation tokens kept per feature
METHODS = ("context", "tokens", "vocabulary")  # the columns of the "quality" array
LABELS = {"context": "context words (MI)", "tokens": "top tokens", "vocabulary": "writes (vocabulary MI)",
          "unclear": "unclear"}
FREQUENT = 500       # "very frequent" words for the Lexical metric: the most frequent 500 English words


# ---------------------------------------------------------------------------------------------
# Vocabulary, word vectors and feature vectors


def vocabulary(n: int = N_WORDS) -> list[str]:
    """The ``n`` most frequent English words that are alphabetic and at least two letters long."""
    try:
        import wordfreq
    except ImportError as err:  # pinned in pyproject; a clear message if someone removed it
        raise ImportError("vocabulary explanations need the wordfreq package: pip install wordfreq") from err
    words = []
    for w in wordfreq.top_n_list("en", 3 * n):
        if len(w) >= 2 and re.fullmatch(r"[a-z]+", w):
            words.append(w)
            if len(words) == n:
                break
    return words


@torch.no_grad()
def word_vectors(model, tokenizer, words: list[str]) -> torch.Tensor:
    """``[len(words), d_model]``: the mean of the unembedding rows of each word's sub-tokens."""
    W = model.get_output_embeddings().weight.detach().float()
    ids = word_subtokens(tokenizer, words)
    flat = torch.tensor([i for seq in ids for i in seq], device=W.device)
    owner = torch.tensor([n for n, seq in enumerate(ids) for _ in seq], device=W.device)
    out = torch.zeros(len(words), W.shape[1], device=W.device).index_add_(0, owner, W[flat])
    counts = torch.tensor([max(len(seq), 1) for seq in ids], device=W.device, dtype=torch.float32)
    return out / counts[:, None]


# ---------------------------------------------------------------------------------------------
# The explanations of every feature


@dataclass
class Explanations:
    """Both explanations of every feature of one SAE, arrays indexed by feature, plus a header."""

    words: list[str]                       # the vocabulary
    arrays: dict[str, np.ndarray]          # word_ids, word_scores, lse_words, lse_features, token_ids, token_acts
    meta: dict = field(default_factory=dict)
    _token_text: dict = field(default_factory=dict, repr=False)

    @property
    def d_sae(self) -> int:
        return len(self.arrays["word_ids"])

    def top_words(self, f: int, n: int = TOP_WORDS) -> list[str]:
        ids, scores = self.arrays["word_ids"][f][:n], self.arrays["word_scores"][f][:n]
        return [self.words[i] for i, s in zip(ids, scores) if s > 0]

    def top_token_ids(self, f: int, n: int = TOP_TOKENS) -> list[int]:
        ids, acts = self.arrays["token_ids"][f][:n], self.arrays["token_acts"][f][:n]
        return [int(i) for i, a in zip(ids, acts) if a > 0]

    def context_words(self, f: int, n: int = TOP_WORDS) -> list[str]:
        """The words most over-represented near the feature's firings (context MI; empty before ``lab.prepare``)."""
        if "context_ids" not in self.arrays:
            return []
        ids, scores = self.arrays["context_ids"][f][:n], self.arrays["context_scores"][f][:n]
        return [self.words[i] for i, s in zip(ids, scores) if s > 0]

    def quality(self, f: int) -> dict[str, float]:
        """Each method's detection AUROC on the feature's sampled firings (``explanation_quality``), when known."""
        q = self.arrays.get("quality")
        if q is None:
            return {}
        return {m: float(v) for m, v in zip(METHODS, q[f]) if np.isfinite(v)}

    def best_method(self, f: int) -> str:
        """The method whose explanation detects the feature best, or "unclear" when none does; "tokens"
        (then "vocabulary") when qualities are unknown (explanations made before ``lab.prepare``)."""
        q = self.quality(f)
        if not q:
            return "tokens" if self.top_token_ids(f, 1) else "vocabulary"
        method = max(q, key=q.get)
        return method if q[method] >= UNCLEAR_BELOW else "unclear"

    def entries(self, f: int, method: str, tokenizer, n: int = 5) -> list[str]:
        """One method's top ``n`` entries as text: context or vocabulary words, or top tokens (stripped)."""
        if method == "context":
            return self.context_words(f, n)
        if method == "vocabulary":
            return self.top_words(f, n)
        if method == "tokens":
            return [t.strip() or t for t in self.token_texts(tokenizer, self.top_token_ids(f, n))]
        return []

    def guess(self, f: int) -> str:
        """The method whose entries a view shows: ``best_method``, or for an "unclear" feature the one that
        scored highest all the same (shown muted)."""
        best = self.best_method(f)
        if best != "unclear":
            return best
        q = self.quality(f)
        return max(q, key=q.get, default="tokens")

    def shown(self, f: int, tokenizer, n: int = 5) -> tuple[str, list[str]]:
        """``(method, entries)`` of the explanation a view shows first (``best_method``; no entries when
        "unclear")."""
        method = self.best_method(f)
        return method, self.entries(f, method, tokenizer, n)

    def token_texts(self, tokenizer, ids: list[int]) -> list[str]:
        out = []
        for i in ids:
            if i not in self._token_text:
                self._token_text[i] = tokenizer.decode([i])
            out.append(self._token_text[i])
        return out

    def text(self, f: int, tokenizer=None, words: int = 5, tokens: int = 4) -> str:
        """A one-line explanation: ``"bridge, bridges, river | ' Bridge', ' Gate'"``."""
        w = ", ".join(self.top_words(f, words))
        if tokenizer is None:
            return w
        t = ", ".join(repr(s) for s in self.token_texts(tokenizer, self.top_token_ids(f, tokens)))
        return f"{w} | {t}" if t else w

    def texts(self, tokenizer=None, words: int = 3, tokens: int = 2) -> list[str]:
        """Every feature's one-line explanation (for the map's hover)."""
        return [self.text(f, tokenizer, words, tokens) for f in range(self.d_sae)]

    def save(self, path: str | Path) -> Path:
        a = dict(self.arrays)
        a["word_ids"] = a["word_ids"].astype(np.uint16 if len(self.words) < 2**16 else np.int32)
        a["word_scores"] = a["word_scores"].astype(np.float16)
        a["token_ids"] = a["token_ids"].astype(np.uint16 if a["token_ids"].max(initial=0) < 2**16 else np.int32)
        a["token_acts"] = a["token_acts"].astype(np.float16)
        a["lse_words"] = a["lse_words"].astype(np.float32)
        a["lse_features"] = a["lse_features"].astype(np.float32)
        for name in ("context_ids", "context_word_features"):
            if name in a:
                a[name] = a[name].astype(np.uint16 if a[name].max(initial=0) < 2**16 else np.int32)
        for name in ("context_scores", "context_word_values", "quality"):
            if name in a:
                a[name] = a[name].astype(np.float16)
        return npz_store.save(path, self.meta, {"words": np.array("\n".join(self.words)), **a})

    header = staticmethod(npz_store.header)

    @classmethod
    def load(cls, path: str | Path) -> "Explanations":
        meta, arrays = npz_store.load(path, "explanations", FORMAT)
        words = str(arrays.pop("words")).split("\n")
        arrays["word_ids"] = arrays["word_ids"].astype(np.int64)
        arrays["word_scores"] = arrays["word_scores"].astype(np.float32)
        for name in ("context_ids", "context_word_features"):
            if name in arrays:
                arrays[name] = arrays[name].astype(np.int64)
        for name in ("context_scores", "context_word_values", "quality"):
            if name in arrays:
                arrays[name] = arrays[name].astype(np.float32)
        return cls(words, arrays, meta)


KIND = Kind("explanations", FILE, FORMAT, Explanations)


@torch.no_grad()
def vocabulary_scores(C: torch.Tensor, E: torch.Tensor, top: int = TOP_WORDS, chunk: int = 2048):
    """The MI words of every feature: ``(word_ids [n, top], scores [n, top], lse_words [n], lse_features [V])``.

    Two passes over ``S = C·Eᵀ`` in chunks of features, so memory is ``chunk × V``, not ``n × V``: the
    first finds the normalisers (log-sum-exp over words per feature, over features per word), the second
    the scores and each feature's top words.
    """
    n, V = len(C), len(E)
    lse_words = torch.empty(n)
    lse_features = torch.full((V,), -math.inf)
    for lo in range(0, n, chunk):
        S = C[lo:lo + chunk] @ E.T
        lse_words[lo:lo + chunk] = S.logsumexp(1)
        lse_features = torch.logaddexp(lse_features, S.logsumexp(0))
    ids = torch.empty(n, top, dtype=torch.long)
    scores = torch.empty(n, top)
    log_n = math.log(n)
    for lo in range(0, n, chunk):
        S = C[lo:lo + chunk] @ E.T
        score = (S - lse_words[lo:lo + chunk, None]).exp() * (S - lse_features + log_n)
        best = score.topk(min(top, V), dim=1)
        ids[lo:lo + chunk], scores[lo:lo + chunk] = best.indices, best.values
    return ids.numpy(), scores.numpy(), lse_words.numpy(), lse_features.numpy()


def top_tokens_all(d: Dashboards, n: int = TOP_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    """Every feature's ``n`` top tokens and their mean activations (``feature_view.top_tokens``)."""
    ids, mean, _ = top_tokens(d.arrays, n)
    return ids, mean


FUNCTION_WORDS = 150  # the most frequent English words: never a context explanation (the, and, of, ...)


def function_words(words: list[str], n: int = FUNCTION_WORDS, languages: tuple[str, ...] = ("en",)) -> torch.Tensor:
    """``[len(words)]`` bool: the words among the ``n`` most frequent of any of ``languages``."""
    import wordfreq

    frequent = {w for lang in languages for w in wordfreq.top_n_list(lang, n)}
    return torch.tensor([w in frequent for w in words], dtype=torch.bool)


def add_context(ex: Explanations, counts: ContextWords) -> None:
    """Context MI from the pass's counts (``cooccurrence.ContextWords`` over ``ex.words``): each feature's
    top words near its firings, and each word's top features (what word search reads)."""
    if counts.n_words != len(ex.words):
        raise ValueError(f"context counts over {counts.n_words} words, explanations over {len(ex.words)}.")
    skip = function_words(ex.words)
    ex.arrays["context_ids"], ex.arrays["context_scores"] = context_mi(counts, TOP_WORDS, skip)
    ex.arrays["context_word_features"], ex.arrays["context_word_values"] = word_features(counts, skip_words=skip)
    ex.meta["context"] = {"radius": counts.radius, "positions": counts.positions,
                          "score": "p(w|f) log(p(w|f) / p(w)), w within radius of a firing",
                          "skipped": f"the {FUNCTION_WORDS} most frequent English words"}


def add_quality(ex: Explanations, dashboard_arrays: dict, tokenizer, progress=None) -> None:
    """Each method's in-sample detection AUROC (``explanation_quality.in_sample``): ``best_method``
    reads it to choose what views show first, and to say "unclear"."""
    ex.arrays["quality"] = in_sample(ex, dashboard_arrays, tokenizer, METHODS, progress=progress)
    ex.meta["quality"] = {"methods": list(METHODS), "unclear_below": UNCLEAR_BELOW,
                          "how": "AUROC of the top 5 entries on the feature's sampled firings vs a pool of others'"}


def compute(ctx, n_words: int = N_WORDS, progress: bool = True, tokens: bool = True) -> Explanations:
    """Both explanations of every feature of ``lab.sae`` (seconds for the vocabulary). The top tokens need
    the dashboards: with ``tokens=True`` they are computed first if this SAE has none; with ``False`` the
    top tokens are left empty unless dashboards are at hand."""
    sae = ctx.need_sae()
    started = time.perf_counter()
    words = vocabulary(n_words)
    E = word_vectors(ctx.model, ctx.tokenizer, words).cpu()
    C = feature_vectors(ctx).cpu()
    word_ids, word_scores, lse_words, lse_features = vocabulary_scores(C, E)
    d = dashboards(ctx, progress=progress)[0] if tokens else dashboards_at_hand(ctx)
    if d is not None:
        token_ids, token_acts = top_tokens_all(d)
    else:
        token_ids, token_acts = np.zeros((sae.d_sae, TOP_TOKENS), np.int64), np.zeros((sae.d_sae, TOP_TOKENS), np.float32)
    meta = {"format": FORMAT, "sae": ctx.store.fingerprint, "model": ctx.model_name, "hook_name": ctx.hook.name,
            "n_words": len(words), "feature_vectors": "final_norm(W_dec) - final_norm(0)",
            "word_vectors": "mean of unembedding rows of ' word' sub-tokens",
            "dashboard_tokens": int(d.meta.get("tokens", 0)) if d is not None else 0, "seconds": round(time.perf_counter() - started, 1)}
    arrays = {"word_ids": word_ids, "word_scores": word_scores, "lse_words": lse_words, "lse_features": lse_features,
              "token_ids": token_ids, "token_acts": token_acts}
    return Explanations(words, arrays, meta)


# ---------------------------------------------------------------------------------------------
# Finding an SAE's explanations: through its feature store


def shipped_path() -> Path:
    return DEFAULT_SAE_DIR / FILE


def explanations(ctx, progress: bool = True, tokens: bool = True) -> Explanations:
    """The explanations of ``ctx.sae``: from its store (memory, its folder, shipped, cache), else computed.

    ``tokens=False``: don't compute dashboards for the top tokens if there are none (searches use this);
    explanations computed that way get their top tokens later, when dashboards are asked for.
    """
    ctx.need_sae()
    store = ctx.store
    of_this_model = lambda meta: meta.get("model") in (None, ctx.model_name)  # noqa: E731 - logit lens is per model

    def fresh() -> Explanations:
        if progress:
            print("saewidgets: no explanations for this SAE yet; computing them (vocabulary of "
                  f"{N_WORDS:,} words; cached).", flush=True)
        return compute(ctx, progress=progress, tokens=tokens)

    ex, _ = store.get(KIND, fresh, of_this_model)
    if tokens and not ex.meta.get("dashboard_tokens"):  # computed without dashboards: add the top tokens now
        d, _ = dashboards(ctx, progress=progress)
        ex.arrays["token_ids"], ex.arrays["token_acts"] = top_tokens_all(d)
        ex.meta["dashboard_tokens"] = int(d.meta.get("tokens", 0)) or 1
        store.put(KIND, ex, "computed", save_to=store.cache_folder())
    return ex


def explanations_or_none(ctx) -> Explanations | None:
    """The explanations when they can be had quietly (shipped, in memory, or seconds to compute), else None:
    for views and tables where an explanation is a nicety that must never stop the rest."""
    try:
        return explanations(ctx, progress=False, tokens=False)
    except Exception:  # noqa: BLE001 - see the docstring
        return None


@dataclass
class Explanation:
    """What ``lab.explain(f)`` returns: every explanation of a feature, and which one views show first.

    ``context``: words near its firings (context MI, after ``lab.prepare``); ``tokens``: its top-activation
    tokens; ``words``: vocabulary words its direction writes (embedding MI). ``quality``: each method's
    detection AUROC on the feature's sampled firings; ``best``: the method shown first, or "unclear".
    """

    feature: int
    words: pd.DataFrame      # word, score
    tokens: pd.DataFrame     # token, token_id, mean_activation (over the top activating examples)
    context: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["word", "score"]))
    quality: dict = field(default_factory=dict)
    best: str = "tokens"
    shown: list = field(default_factory=list)   # the best method's entries (the unclear one's best guess)

    @property
    def text(self) -> str:
        return ", ".join(self.shown[:5])

    def frame(self) -> pd.DataFrame:
        """One row a method, best first: method, label, detection (AUROC), entries."""
        lists = {"context": list(self.context.word), "tokens": [t.strip() or t for t in self.tokens.token],
                 "vocabulary": list(self.words.word)}
        order = sorted(lists, key=lambda m: -self.quality.get(m, -1.0))
        return pd.DataFrame({"method": order, "label": [LABELS[m] for m in order],
                             "detection": [self.quality.get(m, float("nan")) for m in order],
                             "entries": [", ".join(lists[m][:6]) for m in order]})

    def _repr_html_(self) -> str:
        head = f"<b>#{self.feature}</b>: {LABELS[self.best]}"
        return head + self.frame().to_html(index=False, escape=True)

    def __repr__(self) -> str:
        q = self.quality.get(self.best if self.best != "unclear" else "", None)
        score = f" (detects {q:.2f})" if q is not None else ""
        return (f"Explanation(#{self.feature}: {LABELS[self.best]}{score}: {', '.join(self.shown[:6])}; "
                f"context {', '.join(self.context.word.head(6))}; top tokens "
                f"{', '.join(repr(t) for t in self.tokens.token.head(6))}; writes {', '.join(self.words.word.head(6))})")


def explain(ctx, feature: int, progress: bool = True) -> Explanation:
    """``lab.explain(f)``: every explanation of one feature, the best first."""
    feature = check_feature(feature, ctx.need_sae().d_sae)
    ex = explanations(ctx, progress)
    ids, scores = ex.arrays["word_ids"][feature], ex.arrays["word_scores"][feature]
    keep = scores > 0
    words = pd.DataFrame({"word": [ex.words[i] for i in ids[keep]], "score": scores[keep].astype(float)})
    tids = ex.top_token_ids(feature)
    acts = ex.arrays["token_acts"][feature][:len(tids)].astype(float)
    tokens = pd.DataFrame({"token": ex.token_texts(ctx.tokenizer, tids), "token_id": tids, "mean_activation": acts})
    context = pd.DataFrame(columns=["word", "score"])
    if "context_ids" in ex.arrays:
        cids, cscores = ex.arrays["context_ids"][feature], ex.arrays["context_scores"][feature]
        ok = cscores > 0
        context = pd.DataFrame({"word": [ex.words[i] for i in cids[ok]], "score": cscores[ok].astype(float)})
    quality = ex.quality(feature)
    best = ex.best_method(feature)
    return Explanation(feature, words, tokens, context, quality, best,
                       ex.entries(feature, ex.guess(feature), ctx.tokenizer, 8))


# ---------------------------------------------------------------------------------------------
# Offline quality metrics (Wu et al. 2025)


def metrics(ex: Explanations, tokenizer, k: int = 5, dominate: float = 0.10) -> pd.DataFrame:
    """Lexical, Dominate and Diversity of each explanation method, over features that have one.

    Each feature's explanation is its top ``k`` words (MI) or top ``k`` tokens (stripped, lower-cased).
    - Lexical: share of explanation words that are very frequent (among the ``FREQUENT`` most frequent
      English words) or shorter than 4 characters. Lower is better.
    - Dominate: share of the distinct explanation words that appear in the explanations of more than
      ``dominate`` (10%) of features. Lower is better.
    - Diversity: distinct explanation words ÷ all explanation words. Higher is better.
    """
    try:
        import wordfreq

        frequent = set(wordfreq.top_n_list("en", FREQUENT))
    except ImportError:
        frequent = set(ex.words[:FREQUENT])
    mi = [ex.top_words(f, k) for f in range(ex.d_sae)]
    tok = [[t.strip().lower() for t in ex.token_texts(tokenizer, ex.top_token_ids(f, k))] for f in range(ex.d_sae)]
    methods = [("vocabulary (MI)", mi), ("top tokens", tok)]
    if "context_ids" in ex.arrays:
        methods.append(("context (MI)", [ex.context_words(f, k) for f in range(ex.d_sae)]))
    rows = []
    for name, lists in methods:
        lists = [[w for w in ws if w] for ws in lists]
        lists = [ws for ws in lists if ws]
        flat = [w for ws in lists for w in ws]
        per_feature: dict[str, int] = {}
        for ws in lists:
            for w in set(ws):
                per_feature[w] = per_feature.get(w, 0) + 1
        lexical = np.mean([(w in frequent) or len(w) < 4 for w in flat]) if flat else float("nan")
        dom = np.mean([c > dominate * len(lists) for c in per_feature.values()]) if per_feature else float("nan")
        rows.append({"method": name, "features": len(lists), "lexical": float(lexical), "dominate": float(dom),
                     "diversity": len(per_feature) / max(len(flat), 1),
                     "distinct_words": len(per_feature)})
    return pd.DataFrame(rows)
