"""Co-activation neighbours: the features that fire in the same contexts, from ``lab.prepare``'s pass.

The pass counts, for every pair of features, the segments of 16 tokens in which both fire
(``cooccurrence.Coactivation``); each feature keeps its ``TOP`` partners by the phi coefficient (the
correlation of the two "fires in this segment" indicators), which the concept benchmark preferred over
Jaccard and NPMI, and over counting on the same token (``bench/cooccurrence_choice.py``). Features that fire together read the same
topic, which decoder cosine, a property of the directions alone, often misses (the concept benchmark,
``bench/concept_bench.py``, measures both; ``docs/explanations.md``).

Stored in the SAE's feature store as ``coactivation.npz`` (partner ids uint16/int32, similarities fp16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import npz_store
from .cooccurrence import Coactivation, top_partners
from ..store import Kind

FILE = "coactivation.npz"
FORMAT = 1
TOP = 32
SEGMENT = 16
SIMILARITY = "phi"


@dataclass
class CoactivationNeighbors:
    """Every feature's ``TOP`` co-activation partners, best first (-inf similarity where there are fewer)."""

    ids: np.ndarray      # [d_sae, TOP] int
    sims: np.ndarray     # [d_sae, TOP] float32
    meta: dict = field(default_factory=dict)

    def of(self, feature: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, sims = self.ids[feature][:k], self.sims[feature][:k]
        keep = np.isfinite(sims)
        return ids[keep].astype(np.int64), sims[keep].astype(np.float32)

    def save(self, path: str | Path) -> Path:
        dtype = np.uint16 if len(self.ids) <= 2**16 else np.int32
        sims = np.where(np.isfinite(self.sims), self.sims, -1.0)  # fp16 keeps -1 as "none"
        return npz_store.save(path, self.meta, {"ids": self.ids.astype(dtype), "sims": sims.astype(np.float16)})

    header = staticmethod(npz_store.header)

    @classmethod
    def load(cls, path: str | Path) -> "CoactivationNeighbors":
        meta, arrays = npz_store.load(path, "co-activation neighbours", FORMAT)
        sims = arrays["sims"].astype(np.float32)
        return cls(arrays["ids"].astype(np.int64), np.where(sims < 0, -np.inf, sims), meta)


KIND = Kind("coactivation", FILE, FORMAT, CoactivationNeighbors)


def from_counts(ctx, counts: Coactivation, tokens: int, how: str = SIMILARITY) -> CoactivationNeighbors:
    ids, sims = top_partners(counts, TOP, how)
    sims = np.where(sims > 0, sims, -np.inf)  # only features that fire together more than chance are partners
    meta = {"format": FORMAT, "sae": ctx.store.fingerprint, "similarity": how, "segment": counts.segment,
            "segments": counts.segments, "tokens": tokens}
    return CoactivationNeighbors(ids, sims, meta)


def at_hand(ctx) -> CoactivationNeighbors | None:
    """The SAE's co-activation neighbours when its store has them (they come only from ``lab.prepare``)."""
    found = ctx.store.find(KIND)
    return None if found is None else found[0]
