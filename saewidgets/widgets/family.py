"""Family view: one feature's tree across SAE widths, above the card of the node last clicked.

    view = lab.family_view(14703)      # the default's widths: 1,024, 2,048 and 16,384 latents
    view.show("default-2k", 812)       # another feature's family

The tree (``js/src/views/family_tree.ts``) draws one column per width, narrowest on the left, with an edge
from each feature to its parent labelled by their decoder cosine. Hovering a node shows its top examples
(sent with the tree, as token strings, never HTML); clicking one opens its card below, a card of that
node's own SAE. ``selected`` is ``{"sae", "feature"}`` of the open card.
"""

from __future__ import annotations

from typing import Any

import anywidget
import ipywidgets
import numpy as np
import traitlets as t

from ..analysis import dashboards as dash
from ..analysis.family import CHILD_COSINE, MAX_CHILDREN, Family
from .bundle import esm
from .feature_card import feature_card

EXAMPLES = 3  # top examples per node shown on hover


def _examples(ctx, feature: int, n: int = EXAMPLES) -> list[dict[str, Any]]:
    d, _ = dash.dashboards(ctx)
    view = dash.view_of(ctx, d)
    a = d.arrays
    keep = np.nonzero(a["top_value"][feature] > 0)[0][:n]
    return [{"tokens": view.pieces(a["top_tokens"][feature][i]), "center": int(a["top_center"][feature][i]),
             "value": float(a["top_value"][feature][i])} for i in keep]


def _number(x) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def tree_payload(family: Family, member: int, feature: int, min_cosine: float = CHILD_COSINE,
                 max_children: int = MAX_CHILDREN, examples: bool = True) -> dict[str, Any]:
    """What the view draws: the widths, and one entry per node of ``family.frame(member, feature)`` (with
    ``examples``: on how many of its top examples its parent fires too)."""
    nodes = family.tree(member, feature, min_cosine, max_children)
    df = family.frame_of(nodes, member, feature, min_cosine, examples=examples)
    rows = []
    for n, row in zip(nodes, df.itertuples()):
        rows.append({"member": n.member, "feature": n.feature, "parent": n.parent, "relation": n.relation,
                     "cosine": None if np.isnan(n.cosine) else float(n.cosine), "to_query": float(n.to_query),
                     "label": row.label, "explanation": row.explanation,
                     "density": None if np.isnan(row.density) else float(row.density),
                     "more": int(n.hidden_children), "examples": _examples(family.contexts[n.member], n.feature),
                     "parent_fires": _number(getattr(row, "parent_fires", None)),
                     "self_fires": _number(getattr(row, "self_fires", None))})
    return {"saes": [{"name": name, "width": family.width(i)} for i, name in enumerate(family.names)],
            "query": {"member": member, "feature": int(feature)}, "min_cosine": min_cosine, "nodes": rows}


class FamilyTree(anywidget.AnyWidget):
    """The tree alone; ``selected`` follows clicks (``{"member", "feature"}``)."""

    tree = t.Dict().tag(sync=True)
    selected = t.Dict().tag(sync=True)
    error = t.Unicode("").tag(sync=True)

    def __init__(self, family: Family, member: int, feature: int, *, min_cosine: float = CHILD_COSINE,
                 max_children: int = MAX_CHILDREN, examples: bool = True, **kwargs):
        self._esm = esm("family_tree")
        self.family, self.min_cosine, self.max_children, self.examples = family, min_cosine, max_children, examples
        tree = tree_payload(family, member, feature, min_cosine, max_children, examples)
        super().__init__(tree=tree, selected={"member": member, "feature": int(tree["query"]["feature"])}, **kwargs)
        self.on_msg(self._on_request)

    def show(self, member: int, feature: int) -> None:
        """Re-root the tree on ``feature`` of member ``member`` (and select it)."""
        with self.hold_sync():
            self.error = ""
            self.tree = tree_payload(self.family, member, feature, self.min_cosine, self.max_children, self.examples)
            self.selected = {"member": member, "feature": int(feature)}

    def _on_request(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "root":
            return
        try:
            self.show(int(content["member"]), int(content["feature"]))
        except Exception as err:  # noqa: BLE001 - shown in the view, never lost in the kernel log
            self.error = f"could not show that family: {err}"


class FamilyView(ipywidgets.VBox):
    """``lab.family_view(f)``: the tree, and below it the card of the clicked node (in that node's SAE)."""

    def __init__(self, family: Family, member: int, feature: int, **kwargs):
        self.family = family
        self.tree = FamilyTree(family, member, feature, **kwargs)
        self._cards: dict[int, Any] = {}
        self.card_box = ipywidgets.VBox()
        self.card_title = ipywidgets.Label()
        super().__init__(children=[self.tree, self.card_title, self.card_box])
        self.tree.observe(self._open, "selected")
        self._open({"new": self.tree.selected})

    @property
    def selected(self) -> dict:
        return dict(self.tree.selected)

    def show(self, sae, feature: int) -> "FamilyView":
        """Show ``feature``'s family; ``sae`` is a member's name (e.g. "default-2k") or width."""
        self.tree.show(self.family.index(sae), feature)
        return self

    def card(self, member: int):
        """The feature card of member ``member`` (one per width, made on first use)."""
        if member not in self._cards:
            self._cards[member] = feature_card(self.family.contexts[member], None)
        return self._cards[member]

    def _open(self, change) -> None:
        chosen = change["new"] or {}
        if "member" not in chosen:
            return
        member, feature = int(chosen["member"]), int(chosen["feature"])
        card = self.card(member)
        card.feature = feature
        width = self.family.width(member)
        self.card_title.value = f"Card: #{feature} of {self.family.names[member]} ({width:,} latents)"
        self.card_box.children = [card]
