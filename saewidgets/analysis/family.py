"""Feature families across SAE widths: what a feature becomes as the dictionary grows.

SAEs of several widths trained on the same activations learn related dictionaries: a feature of a narrow
SAE reappears in a wider one as one feature (the same direction) or splits into several finer ones
(Bricken et al. 2023, "feature splitting"; Templeton et al. 2024 followed San Francisco from 1M to 34M
features). Matching is by decoder direction. Every feature of the wider SAE gets one *parent*: the feature
of the next narrower SAE whose decoder row is closest in cosine. A feature's *children* are the wider
features whose parent it is, with a cosine of at least ``CHILD_COSINE``; a feature with two or more
children *splits*.

``Family`` holds the SAEs (as contexts sharing one model), narrowest first, and builds a feature's tree:
its ancestors up to the narrowest SAE and its descendants down to the widest. ``examples_in_parent`` checks
a split on text: on how many of a child's top examples does the parent fire too?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..activations import sink_mask
from ..checks import check_feature
from ..hooks import run_to
from ..store import store_of
from .dashboards import dashboards
from .explain import explanations_or_none
from .labels import feature_labels
from .neighbors import unit_decoder

# A child must point at least this close to its parent. The 99.9th percentile of best-match cosines against
# a randomly rotated copy of the wider decoder is 0.20 (1k -> 2k) and 0.22 (2k -> 16k) on the default widths
# (bench/family_measure.py, docs/families.md): above 0.4 a match is not chance.
CHILD_COSINE = 0.4
MAX_CHILDREN = 6  # per node in a tree; the rest are counted, not drawn
RELATIONS = ("child", "grandchild", "great-grandchild")


@torch.no_grad()
def best_match(src: torch.Tensor, dst: torch.Tensor, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each unit row of ``src``, the closest unit row of ``dst``: (ids, cosines)."""
    ids, cos = [], []
    for start in range(0, len(src), chunk):
        top = (src[start:start + chunk] @ dst.T).max(dim=1)
        ids.append(top.indices.cpu().numpy())
        cos.append(top.values.float().cpu().numpy())
    return np.concatenate(ids).astype(np.int64), np.concatenate(cos).astype(np.float32)


def random_rotation(d: int, seed: int = 0) -> torch.Tensor:
    """A uniformly random orthogonal matrix ``[d, d]``: rotating a decoder keeps its geometry, breaks alignment."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g))
    return q * torch.sign(torch.diagonal(r))


@dataclass
class Node:
    """One feature in a family tree. ``parent`` indexes the tree's node list (-1 for the root of the tree);
    ``cosine`` is to that parent's decoder row, ``to_query`` to the asked-about feature's."""

    member: int
    feature: int
    parent: int
    cosine: float
    to_query: float
    relation: str      # "ancestor", "self", "child", "grandchild", ... or "closest" (below CHILD_COSINE)
    hidden_children: int = 0


class Family:
    """SAEs of one hook point at several widths, narrowest first; ``names[i]`` labels ``contexts[i]``."""

    def __init__(self, members: Sequence[tuple[str, object]]):
        if len(members) < 2:
            raise ValueError("a family needs SAEs of at least two widths, e.g. "
                             "lab.family(f, widths=['default-1k', 'default-2k']).")
        members = sorted(members, key=lambda m: m[1].need_sae().d_sae)
        self.names = [name for name, _ in members]
        self.contexts = [ctx for _, ctx in members]
        saes = [ctx.need_sae() for ctx in self.contexts]
        hooks = {ctx.hook.name for ctx in self.contexts}
        if len(hooks) > 1 or len({s.d_in for s in saes}) > 1:
            raise ValueError(f"the SAEs of a family must read the same hook point of the same model; got "
                             f"{', '.join(f'{n}: {c.hook.name}' for n, c in zip(self.names, self.contexts))}.")
        widths = [s.d_sae for s in saes]
        if len(set(widths)) < len(widths):
            raise ValueError(f"two SAEs of the family have the same width ({widths}); pass one of each width.")

    def __len__(self) -> int:
        return len(self.contexts)

    def width(self, i: int) -> int:
        return self.contexts[i].need_sae().d_sae

    def index(self, name_or_width) -> int:
        """The member named ``name`` (e.g. "default-2k") or of that width."""
        for i, (name, ctx) in enumerate(zip(self.names, self.contexts)):
            if name_or_width == name or name_or_width == ctx.need_sae().d_sae:
                return i
        raise ValueError(f"no SAE {name_or_width!r} in this family; it has {', '.join(self.names)}.")

    # ---- matching, memoised in the source SAE's store (recomputed when either SAE's weights change)

    def best_in(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Every feature of member ``i``: its closest feature in member ``j`` and their cosine."""
        src, dst = self.contexts[i].need_sae(), self.contexts[j].need_sae()
        dst_store = store_of(dst)
        return store_of(src).derived(f"best_match:{dst_store.fingerprint}",
                                     lambda: best_match(unit_decoder(src), unit_decoder(dst).to(unit_decoder(src).device)),
                                     dst_store.weights_key())

    def parent(self, i: int, feature: int) -> tuple[int, float]:
        ids, cos = self.best_in(i, i - 1)
        return int(ids[feature]), float(cos[feature])

    def children(self, i: int, feature: int, min_cosine: float = CHILD_COSINE) -> tuple[np.ndarray, np.ndarray]:
        """The features of member ``i + 1`` whose parent is ``feature``, closest first."""
        parents, cos = self.best_in(i + 1, i)
        ids = np.nonzero((parents == feature) & (cos >= min_cosine))[0]
        order = np.argsort(-cos[ids], kind="stable")
        return ids[order], cos[ids][order]

    def cosine(self, i: int, f: int, j: int, g: int) -> float:
        a = unit_decoder(self.contexts[i].need_sae())[f]
        return float(a @ unit_decoder(self.contexts[j].need_sae())[g].to(a.device))

    # ---- a feature's tree

    def tree(self, member: int, feature: int, min_cosine: float = CHILD_COSINE,
             max_children: int = MAX_CHILDREN) -> list[Node]:
        """Ancestors (narrowest first), the feature itself, then its descendants breadth first."""
        feature = check_feature(feature, self.width(member))
        links = []  # (member, feature, cosine to the node below it), narrowest first
        i, f = member, feature
        while i > 0:
            g, c = self.parent(i, f)
            links.insert(0, (i - 1, g, c))
            i, f = i - 1, g
        path = [(m, g) for m, g, _ in links] + [(member, feature)]
        nodes = [Node(m, g, k - 1, links[k - 1][2] if k else float("nan"), self.cosine(member, feature, m, g),
                      "self" if m == member else "ancestor") for k, (m, g) in enumerate(path)]
        me = len(nodes) - 1
        frontier = [me]
        for generation in range(member + 1, len(self)):
            relation = RELATIONS[min(generation - member - 1, len(RELATIONS) - 1)]
            next_frontier = []
            for at in frontier:
                ids, cos = self.children(generation - 1, nodes[at].feature, min_cosine)
                kind = relation
                if len(ids) == 0 and at == me:
                    # no child close enough: still show where the feature went, marked as such
                    ids, cos = self._closest(generation - 1, nodes[at].feature, generation)
                    kind = "closest"
                nodes[at].hidden_children = max(0, len(ids) - max_children)
                for g, c in zip(ids[:max_children], cos[:max_children]):
                    nodes.append(Node(generation, int(g), at, float(c),
                                      self.cosine(member, feature, generation, int(g)), kind))
                    next_frontier.append(len(nodes) - 1)
            frontier = next_frontier
        return nodes

    def _closest(self, i: int, feature: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        unit_i, unit_j = unit_decoder(self.contexts[i].need_sae()), unit_decoder(self.contexts[j].need_sae())
        cos = unit_j.to(unit_i.device) @ unit_i[feature]
        g = int(cos.argmax())
        return np.array([g]), np.array([float(cos[g])], dtype=np.float32)

    def frame(self, member: int, feature: int, min_cosine: float = CHILD_COSINE,
              max_children: int = MAX_CHILDREN, examples: bool = False) -> pd.DataFrame:
        """The tree as a DataFrame: one row per node (see ``lab.family``). ``examples``: also the share of each
        node's top examples on which its parent in the tree fires (``parent_fires``; ``self_fires`` is the node
        itself on the same re-read examples, the control)."""
        return self.frame_of(self.tree(member, feature, min_cosine, max_children), member, feature, min_cosine,
                             examples)

    def frame_of(self, nodes: list[Node], member: int, feature: int, min_cosine: float = CHILD_COSINE,
                 examples: bool = False) -> pd.DataFrame:
        """``frame`` for a tree already built (``tree``'s nodes, in order)."""
        rows = []
        for n in nodes:
            ctx = self.contexts[n.member]
            freq = ctx.stats.get("frequency")
            ex = explanations_or_none(ctx)
            rows.append({
                "sae": self.names[n.member], "width": self.width(n.member), "feature": n.feature,
                "relation": n.relation,
                "parent": -1 if n.parent < 0 else nodes[n.parent].feature,
                "parent_sae": "" if n.parent < 0 else self.names[nodes[n.parent].member],
                "cosine": n.cosine, "to_query": n.to_query,
                "density": float(freq[n.feature]) if freq is not None else np.nan,
                "label": feature_labels(ctx, [n.feature])[0],
                "explanation": ", ".join(ex.shown(n.feature, ctx.tokenizer, 5)[1]) if ex else "",
                "more_children": n.hidden_children})
            if examples:
                readers = [(ctx, n.feature)]
                if n.parent >= 0:
                    readers.insert(0, (self.contexts[nodes[n.parent].member], nodes[n.parent].feature))
                shares = fires_on_examples(ctx, n.feature, readers)
                rows[-1].update(parent_fires=shares[0] if n.parent >= 0 else np.nan, self_fires=shares[-1])
        df = pd.DataFrame(rows)
        df.attrs.update(query=(self.names[member], feature), min_cosine=min_cosine, saes=list(self.names))
        return df


# ---- checking a split on text


@torch.no_grad()
def fires_on_examples(child_ctx, child_feature: int, readers: Sequence[tuple[object, int]], n: int = 10
                      ) -> list[float]:
    """On the child's ``n`` top dashboard examples (re-read as short texts), the share where each reader
    ``(context, feature)`` fires on the example's centre token. The child itself as a reader is the control:
    an excerpt is shorter than the window it came from, so even the child need not fire on all of them."""
    a = dashboards(child_ctx)[0].arrays
    keep = np.nonzero(a["top_value"][child_feature] > 0)[0][:n]
    if len(keep) == 0:
        return [float("nan")] * len(readers)
    tokens = torch.as_tensor(a["top_tokens"][child_feature][keep].astype(np.int64))
    centre = torch.as_tensor(a["top_center"][child_feature][keep].astype(np.int64)) + 1
    tok = child_ctx.tokenizer
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    ids = torch.cat([torch.full((len(keep), 1), bos, dtype=torch.long), tokens], dim=1)
    acts = run_to(child_ctx.model, child_ctx.hook, ids.to(child_ctx.device))
    sinks = sink_mask(acts)
    at = acts[torch.arange(len(keep)), centre]
    valid = ~sinks[torch.arange(len(keep)), centre]
    out = []
    for ctx, feature in readers:
        sae = ctx.need_sae()
        z = sae.encode(at.to(sae.dtype))[:, feature].float()
        out.append(float(((z > 0) & valid).sum() / max(int(valid.sum()), 1)))
    return out
