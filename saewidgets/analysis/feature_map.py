"""A 2-D map of every feature: UMAP of the decoder directions (cosine metric), clusters labelled by words.

Features whose decoder rows point the same way mean related things, so a 2-D layout of the unit
decoder rows under the cosine metric puts related features side by side. UMAP (``umap-learn``) keeps
neighbourhoods best; it takes about a minute for 16k features on two CPU cores, so:

- the default SAE's layout ships in ``saewidgets/data/default-sae/feature_map.npz`` (x, y as fp16,
  cluster ids uint16, cluster labels, a fingerprint of the decoder it was computed from);
- for any other SAE (or a retrained default whose fingerprint no longer matches) the map uses PCA of
  the unit decoder rows, instantly, with a notice; ``layout(lab, "umap")`` / ``lab.map(layout="umap")``
  computes UMAP on demand with a progress bar and caches it in the user cache;
- when ``umap-learn`` is not installed, PCA with a notice;
- an SAE with more than ``MAX_POINTS`` (100k) features is mapped on a fixed random subsample of that
  many, and the widget says so on screen.

Clusters: k-means (scikit-learn) on the 2-D layout (so a cluster is a region you can see), each
labelled by the terms most over-represented among its members' explanations.

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
from .explain import explanations
from .neighbors import unit_decoder
from ..paths import DEFAULT_SAE_DIR
from ..store import Kind

FILE = "feature_map.npz"
FORMAT = 1
MAX_POINTS = 100_000
N_CLUSTERS = 48
UMAP_ARGS = dict(n_neighbors=15, min_dist=0.05, metric="cosine", random_state=0)


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


def umap_2d(x: np.ndarray, progress: bool = True) -> np.ndarray:
    import umap  # noqa: F401 - ImportError handled by the caller

    reducer = umap.UMAP(**UMAP_ARGS, verbose=progress, tqdm_kwds={"disable": not progress, "desc": "UMAP epochs"})
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
    """Each cluster's terms: those most over-represented among its members' explanations (tf-idf-like).

    The terms are the members' top activating tokens (whole words of three letters or more) when a
    tokenizer and top tokens are at hand (word-initial tokens only): on a mid-layer SAE they name what a region reads (music, dogs)
    far better than the vocabulary words its directions write. Else the vocabulary words.
    """
    n_clusters = int(cluster.max(initial=-1)) + 1
    if ex is None:
        return [f"cluster {c}" for c in range(n_clusters)]
    terms = _feature_terms(features, ex, tokenizer)
    overall = Counter(t for row in terms for t in row)
    common = max(2, 0.01 * len(features))  # a term of over 1% of all features (the, and) names no region
    labels = []
    for c in range(n_clusters):
        counts = Counter(t for row, member in zip(terms, cluster == c) if member for t in row)
        score = {t: n * np.log((len(features) + 1) / (overall[t] + 1)) for t, n in counts.items()
                 if n >= 2 and overall[t] <= common}
        best = sorted(score, key=lambda t: -score[t])[:n_words]  # a term of a single feature doesn't describe a region
        labels.append(", ".join(best) or f"cluster {c}")
    return labels


def _feature_terms(features: np.ndarray, ex, tokenizer) -> list[list[str]]:
    if tokenizer is not None and ex.arrays["token_acts"].any():
        rows = []
        for f in features:
            raw = ex.token_texts(tokenizer, ex.top_token_ids(int(f), 5))
            words = (t.strip().lower() for t in raw if t.startswith(" "))  # word starts, not word pieces
            rows.append(list(dict.fromkeys(t for t in words if len(t) >= 3 and t.isalpha())))
        return rows
    ids, scores = ex.arrays["word_ids"][features][:, :5], ex.arrays["word_scores"][features][:, :5]
    return [[ex.words[i] for i, sc in zip(r, q) if sc > 0] for r, q in zip(ids, scores)]


def compute(ctx, method: str = "umap", progress: bool = True, clusters: int = N_CLUSTERS, ex=None) -> FeatureMap:
    """The map of ``ctx.sae``: ``method`` "umap" (falls back to PCA, with a notice, when not installed) or "pca"."""
    sae = ctx.need_sae()
    if method not in ("umap", "pca"):
        raise ValueError(f"layout must be 'umap', 'pca' or 'auto' (got {method!r}).")
    started = time.perf_counter()
    n = sae.d_sae
    features = np.arange(n)
    if n > MAX_POINTS:
        features = np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))
    unit = unit_decoder(sae)[torch.from_numpy(features).to(sae.W_dec.device)].cpu()
    if method == "umap" and not umap_available():
        print("saewidgets: umap-learn is not installed (pip install umap-learn); the map uses PCA instead.", flush=True)
        method = "pca"
    xy = umap_2d(unit.numpy(), progress) if method == "umap" else pca_2d(unit)
    xy = _scale(xy)
    cluster = kmeans(xy, clusters) if clusters else np.full(len(xy), -1)
    labels = cluster_labels(cluster, features, ex, tokenizer=ctx.tokenizer) if clusters else []
    meta = {"format": FORMAT, "sae": ctx.store.fingerprint, "d_sae": n, "method": method,
            "umap": UMAP_ARGS if method == "umap" else None, "clusters": clusters,
            "seconds": round(time.perf_counter() - started, 1)}
    return FeatureMap(features, xy, cluster, labels, meta)


KIND = Kind("feature_map", FILE, FORMAT, FeatureMap)  # the UMAP layout; PCA is instant and never stored


# ---------------------------------------------------------------------------------------------
# Finding an SAE's map: through its feature store


def shipped_path() -> Path:
    return DEFAULT_SAE_DIR / FILE


def layout(ctx, method: str = "auto", progress: bool = True) -> FeatureMap:
    """The map of ``ctx.sae``. ``"auto"``: UMAP when at hand for this SAE (its store), else PCA (instant,
    with a notice saying how to get UMAP); ``"umap"``: computed now if needed (progress bar, cached);
    ``"pca"``: PCA."""
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"layout must be 'umap', 'pca' or 'auto' (got {method!r}).")
    ctx.need_sae()
    store = ctx.store
    if method in ("auto", "umap"):
        found = store.find(KIND)
        if found is not None:
            return found[0]
    if method == "auto":
        print("saewidgets: no UMAP layout for this SAE yet; showing PCA of the decoder directions. "
              "lab.map(layout='umap') computes UMAP (about a minute for 16k features, cached); "
              "lab.prepare() builds it with every other artefact.", flush=True)
        method = "pca"

    def fresh() -> FeatureMap:
        return compute(ctx, method, progress, ex=explanations(ctx, progress=progress, tokens=False))

    if method == "pca":
        return store.derived("feature_map_pca", fresh)
    fmap, _ = store.get(KIND, fresh)
    return fmap


def density(xy: np.ndarray, bins: int = 96) -> np.ndarray:
    """Each point's local density on the map in [0, 1]: its cell count in a ``bins``² grid, log-scaled."""
    cell = np.clip((xy * bins).astype(np.int64), 0, bins - 1)
    flat = cell[:, 0] * bins + cell[:, 1]
    counts = np.bincount(flat, minlength=bins * bins)[flat].astype(np.float64)
    return (np.log1p(counts) / np.log1p(counts.max())).astype(np.float32)
