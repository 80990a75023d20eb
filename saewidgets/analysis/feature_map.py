"""A 2-D map of every feature: UMAP of what fires together (or of the decoder directions), labelled clusters.

Two layouts, both UMAP (``umap-learn``), which keeps neighbourhoods best:

- ``by="coactivation"``: UMAP of the co-activation graph (each feature's partners by Jaccard of the
  16-token segments both fire in, ``coactivation.py``; 1 − similarity as the distance), so features of
  one topic sit together. Needs ``lab.prepare``'s counts; on the default SAE the concept benchmark
  prefers it (``docs/explanations.md``), so "auto" takes it when it exists.
- ``by="decoder"``: UMAP of the unit decoder rows under the cosine metric: features whose directions
  point the same way.

UMAP takes about a minute for 16k features on two CPU cores, so:

- the default SAE's layout ships in ``saewidgets/data/default-sae/feature_map.npz`` (x, y as fp16,
  cluster ids uint16, cluster labels, a fingerprint of the decoder it was computed from);
- for any other SAE (or a retrained default whose fingerprint no longer matches) the map uses PCA of
  the unit decoder rows, instantly, with a notice; ``layout(lab, "umap")`` / ``lab.map(layout="umap")``
  computes UMAP on demand with a progress bar and caches it in the user cache;
- when ``umap-learn`` is not installed, PCA with a notice;
- an SAE with more than ``MAX_POINTS`` (100k) features is mapped on a fixed random subsample of that
  many, and the widget says so on screen.

Clusters: k-means (scikit-learn) on the 2-D layout (so a cluster is a region you can see), each
labelled by the content words most over-represented among its members' explanations (context words
when the SAE has them, else top tokens that start a word); the most frequent English words and word
pieces never name a cluster.

The layout lives in the SAE's feature store (``feature_map.npz``): shipped for the default SAE, written
by ``lab.prepare`` for any other, else computed when asked and cached.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import npz_store
from . import coactivation
from .explain import explanations, function_words
from .neighbors import unit_decoder
from ..paths import DEFAULT_SAE_DIR
from ..store import Kind

FILE = "feature_map.npz"
FORMAT = 1
MAX_POINTS = 100_000
N_CLUSTERS = 48
UMAP_ARGS = dict(n_neighbors=15, min_dist=0.05, metric="cosine", random_state=0)
BY = ("decoder", "coactivation")
LABEL_STOP_WORDS = 300  # the most frequent words never name a cluster: English, and the languages of the
LABEL_LANGUAGES = ("en", "de", "fr", "es", "nl", "it", "pt")  # corpus's other text (den, von, dan)


@dataclass
class FeatureMap:
    """Positions of features on the plane (scaled into [0, 1]²), their clusters and the clusters' labels."""

    features: np.ndarray          # [n] int: which feature each point is (all of them, or a subsample)
    xy: np.ndarray                # [n, 2] float32 in [0, 1]
    cluster: np.ndarray           # [n] int, -1 when not clustered
    labels: list[str]             # one per cluster
    meta: dict = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.meta.get("method", "?")

    @property
    def subsampled(self) -> bool:
        return len(self.features) < self.meta.get("d_sae", len(self.features))

    def save(self, path: str | Path) -> Path:
        arrays = {"xy": self.xy.astype(np.float16), "cluster": self.cluster.astype(np.int16)}
        if self.subsampled:
            arrays["features"] = self.features.astype(np.int32)
        return npz_store.save(path, {**self.meta, "labels": self.labels}, arrays)

    header = staticmethod(npz_store.header)

    @classmethod
    def load(cls, path: str | Path) -> "FeatureMap":
        meta, arrays = npz_store.load(path, "feature map", FORMAT)
        xy = arrays["xy"].astype(np.float32)
        cluster = arrays["cluster"].astype(np.int64)
        features = arrays["features"].astype(np.int64) if "features" in arrays else np.arange(len(xy))
        return cls(features, xy, cluster, meta.pop("labels", []), meta)


def _scale(xy: np.ndarray) -> np.ndarray:
    """Into [0, 1]² keeping the aspect ratio (the longer side spans 0..1, the shorter is centred)."""
    xy = np.asarray(xy, dtype=np.float64)
    lo, hi = np.percentile(xy, 0.1, axis=0), np.percentile(xy, 99.9, axis=0)  # a few far outliers don't squash the rest
    xy = np.clip(xy, lo, hi)
    span = max(float((hi - lo).max()), 1e-12)
    out = (xy - lo) / span
    out += (1 - (hi - lo) / span) / 2
    return out.astype(np.float32)


def pca_2d(x: torch.Tensor) -> np.ndarray:
    """The first two principal components of the rows of ``x``."""
    x = x.float()
    x = x - x.mean(0)
    _, _, v = torch.pca_lowrank(x, q=2, center=False, niter=4)
    return (x @ v[:, :2]).cpu().numpy()


def umap_2d(x: np.ndarray, progress: bool = True, knn: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """UMAP of the rows of ``x``; ``knn``: precomputed ``(indices, distances)`` of each row's neighbours
    (itself first; -1 where it has fewer), used instead of neighbours in ``x``."""
    import umap  # noqa: F401 - ImportError handled by the caller

    extra = {"precomputed_knn": (knn[0], knn[1], None)} if knn is not None else {}
    reducer = umap.UMAP(**UMAP_ARGS, **extra, verbose=progress,
                        tqdm_kwds={"disable": not progress, "desc": "UMAP epochs"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, etc.
        return reducer.fit_transform(x)


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def kmeans(xy: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means (k-means++ start, scikit-learn) on a few-dimensional point set: cluster id per point."""
    from sklearn.cluster import KMeans

    xy = np.asarray(xy, dtype=np.float32)
    k = max(1, min(k, len(xy)))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(xy).astype(np.int64)


def cluster_labels(cluster: np.ndarray, features: np.ndarray, ex, n_words: int = 3, tokenizer=None) -> list[str]:
    """Each cluster's terms: content words most over-represented among its members' explanations (tf-idf-like).

    The terms are the members' context words when the SAE has them (``lab.prepare``), else their top
    activating tokens that start a whole word (what a region reads: music, dogs), else the vocabulary
    words their directions write. The ``LABEL_STOP_WORDS`` most frequent words of ``LABEL_LANGUAGES``
    and words under three letters never count.
    """
    n_clusters = int(cluster.max(initial=-1)) + 1
    if ex is None:
        return [f"cluster {c}" for c in range(n_clusters)]
    terms = _feature_terms(features, ex, tokenizer)
    overall = Counter(t for row in terms for t in row)
    common = max(2, 0.01 * len(features))  # a term of over 1% of all features names no region
    labels = []
    for c in range(n_clusters):
        counts = Counter(t for row, member in zip(terms, cluster == c) if member for t in row)
        score = {t: n * np.log((len(features) + 1) / (overall[t] + 1)) for t, n in counts.items()
                 if n >= 2 and overall[t] <= common}
        best = sorted(score, key=lambda t: -score[t])[:n_words]  # a term of a single feature doesn't describe a region
        labels.append(", ".join(best) or f"cluster {c}")
    return labels


def _feature_terms(features: np.ndarray, ex, tokenizer) -> list[list[str]]:
    stop = {w for w, s in zip(ex.words, function_words(ex.words, LABEL_STOP_WORDS, LABEL_LANGUAGES)) if s}
    if "context_ids" in ex.arrays:  # two-letter words (de, la, mo) read as fragments on a map
        return [[w for w in ex.context_words(int(f), 5) if w not in stop and len(w) >= 3] for f in features]
    if tokenizer is not None and ex.arrays["token_acts"].any():
        vocab = set(ex.words)
        rows = []
        for f in features:
            raw = ex.token_texts(tokenizer, ex.top_token_ids(int(f), 5))
            words = (t.strip().lower() for t in raw if t.startswith(" "))  # word starts, not word pieces
            rows.append(list(dict.fromkeys(t for t in words if len(t) >= 3 and t in vocab and t not in stop)))
        return rows
    ids, scores = ex.arrays["word_ids"][features][:, :5], ex.arrays["word_scores"][features][:, :5]
    return [[ex.words[i] for i, sc in zip(r, q) if sc > 0 and ex.words[i] not in stop] for r, q in zip(ids, scores)]


def coactivation_knn(ctx, features: np.ndarray, k: int = UMAP_ARGS["n_neighbors"]) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, distances)`` ``[n, k]`` for UMAP: each feature itself, then its co-activation partners
    (distance 1 − Jaccard); features with too few partners (rare or dead ones) take decoder neighbours,
    a little farther (1 + (1 − cosine)), so they still land somewhere meaningful."""
    table = coactivation.at_hand(ctx)
    if table is None:
        raise ValueError("the co-activation map needs lab.prepare()'s counts; use by='decoder'.")
    if len(features) != ctx.sae.d_sae:
        raise ValueError("the co-activation map covers every feature; this SAE is too wide for it (use by='decoder').")
    unit = unit_decoder(ctx.sae)
    n = len(features)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    idx[:, 0], dist[:, 0] = features, 0.0
    for f in features:
        ids, sims = table.of(int(f), k - 1)
        if len(ids) < k - 1:
            cos = unit @ unit[int(f)]
            cos[int(f)] = -2.0
            taken = set(ids.tolist())
            extra = [int(g) for g in cos.topk(2 * k).indices.tolist() if int(g) not in taken][:k - 1 - len(ids)]
            ids = np.concatenate([ids, extra]).astype(np.int64)
            sims = np.concatenate([sims, -(1 - cos[extra].cpu().numpy())]).astype(np.float32)
        idx[f, 1:] = ids
        dist[f, 1:] = 1.0 - sims
    return idx, dist


def compute(ctx, method: str = "umap", progress: bool = True, clusters: int = N_CLUSTERS, ex=None,
            by: str = "decoder") -> FeatureMap:
    """The map of ``ctx.sae``: ``method`` "umap" (falls back to PCA, with a notice, when not installed) or
    "pca"; ``by`` "decoder" (directions) or "coactivation" (UMAP of the co-activation graph)."""
    sae = ctx.need_sae()
    if method not in ("umap", "pca"):
        raise ValueError(f"layout must be 'umap', 'pca' or 'auto' (got {method!r}).")
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(map(repr, BY))} (got {by!r}).")
    started = time.perf_counter()
    n = sae.d_sae
    features = np.arange(n)
    if n > MAX_POINTS:
        features = np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))
    unit = unit_decoder(sae)[torch.from_numpy(features).to(sae.W_dec.device)].cpu()
    if method == "umap" and not umap_available():
        print("saewidgets: umap-learn is not installed (pip install umap-learn); the map uses PCA instead.", flush=True)
        method = "pca"
    knn = coactivation_knn(ctx, features) if by == "coactivation" and method == "umap" else None
    xy = umap_2d(unit.numpy(), progress, knn) if method == "umap" else pca_2d(unit)
    xy = _scale(xy)
    cluster = kmeans(xy, clusters) if clusters else np.full(len(xy), -1)
    labels = cluster_labels(cluster, features, ex, tokenizer=ctx.tokenizer) if clusters else []
    meta = {"format": FORMAT, "sae": ctx.store.fingerprint, "d_sae": n, "method": method,
            "by": by if method == "umap" else "decoder",
            "umap": UMAP_ARGS if method == "umap" else None, "clusters": clusters,
            "seconds": round(time.perf_counter() - started, 1)}
    return FeatureMap(features, xy, cluster, labels, meta)


KIND = Kind("feature_map", FILE, FORMAT, FeatureMap)  # the UMAP layout; PCA is instant and never stored
KIND_COACTIVATION = Kind("feature_map_coactivation", "feature_map_coactivation.npz", FORMAT, FeatureMap)
KINDS = {"decoder": KIND, "coactivation": KIND_COACTIVATION}


# ---------------------------------------------------------------------------------------------
# Finding an SAE's map: through its feature store


def shipped_path() -> Path:
    return DEFAULT_SAE_DIR / FILE


def layout(ctx, method: str = "auto", progress: bool = True, by: str = "auto") -> FeatureMap:
    """The map of ``ctx.sae``. ``method``: ``"auto"``: UMAP when at hand for this SAE (its store), else PCA
    (instant, with a notice saying how to get UMAP); ``"umap"``: computed now if needed (progress bar,
    cached); ``"pca"``: PCA. ``by``: ``"auto"`` (the co-activation layout when at hand, else decoder),
    ``"coactivation"`` or ``"decoder"``."""
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"layout must be 'umap', 'pca' or 'auto' (got {method!r}).")
    if by not in ("auto", *BY):
        raise ValueError(f"by must be 'auto', 'decoder' or 'coactivation' (got {by!r}).")
    ctx.need_sae()
    store = ctx.store
    if method in ("auto", "umap"):
        for kind in ([KIND_COACTIVATION, KIND] if by == "auto" else [KINDS[by]]):
            found = store.find(kind)
            if found is not None:
                return found[0]
    if by == "auto":
        by = "coactivation" if method == "umap" and coactivation.at_hand(ctx) is not None else "decoder"
    if method == "auto":
        print("saewidgets: no UMAP layout for this SAE yet; showing PCA of the decoder directions. "
              "lab.map(layout='umap') computes UMAP (about a minute for 16k features, cached); "
              "lab.prepare() builds it with every other artefact.", flush=True)
        method = "pca"

    def fresh() -> FeatureMap:
        return compute(ctx, method, progress, ex=explanations(ctx, progress=progress, tokens=False), by=by)

    if method == "pca":
        return store.derived("feature_map_pca", fresh)
    fmap, _ = store.get(KINDS[by], fresh)
    return fmap


def density(xy: np.ndarray, bins: int = 96) -> np.ndarray:
    """Each point's local density on the map in [0, 1]: its cell count in a ``bins``² grid, log-scaled."""
    cell = np.clip((xy * bins).astype(np.int64), 0, bins - 1)
    flat = cell[:, 0] * bins + cell[:, 1]
    counts = np.bincount(flat, minlength=bins * bins)[flat].astype(np.float64)
    return (np.log1p(counts) / np.log1p(counts.max())).astype(np.float32)
