"""Feature map: every feature of the SAE as a point on a 2-D map, drawn by WebGL in the browser.

    m = lab.map()            # the map above an (empty) feature card
    m.feature                # the clicked feature (None before a click); m.feature = 123 selects from Python
    m.show("The Golden Gate Bridge")    # colour by activation on a text
    m.search("bridge")       # highlight the features a word search finds (the view's search box does the same)
    m.colour_by = "density"  # or "cluster", "activation"

Python sends the layout once, as bytes (``codecs``): positions float32 ``[n, 2]`` in [0, 1]², cluster
ids and local density as uint8, and every point's short explanation as one UTF-8 string joined by
newlines (the hover needs no round trip to the kernel). Later messages are small: the neighbours of a
selected feature, the matches of a search (ids and scores), activations on a text (fp16 per point).
A search from the view carries an id; its answer comes back with that id, so a late answer to an older
query is never shown. The view is ``js/src/views/feature_map.ts``.
"""

from __future__ import annotations

from typing import Any

import warnings

import anywidget
import ipywidgets
import numpy as np
import traitlets as t

from ..analysis import explain as ex_mod
from ..analysis import feature_map as fm
from ..analysis.labels import feature_labels
from ..analysis.neighbors import neighbor_ids
from ..checks import check_feature
from ..deprecation import renamed
from . import codecs
from .bundle import esm
from .feature_card import feature_card
from .selection import FeatureSelection

COLOUR_MODES = ("cluster", "density", "activation")


def _selected_alias():
    """``selected``: the old name of ``feature`` (deprecated; link or observe ``feature``)."""
    def get(self):
        warnings.warn("map.selected is renamed map.feature", DeprecationWarning, stacklevel=2)
        return self.feature

    def set(self, value):
        warnings.warn("map.selected is renamed map.feature", DeprecationWarning, stacklevel=2)
        self.feature = value

    return property(get, set, doc=_selected_alias.__doc__)


class FeatureMap(FeatureSelection, anywidget.AnyWidget):
    """The map alone (``lab.map()`` puts a feature card under it). ``feature`` follows clicks."""

    points = t.Dict().tag(sync=True)        # xy, cluster, density, features, texts (sent once)
    labels = t.List(t.Unicode()).tag(sync=True)
    notice = t.Unicode("").tag(sync=True)   # PCA instead of UMAP, a subsample: said on screen
    colour_by = t.Unicode("cluster").tag(sync=True)
    neighbors = t.Dict().tag(sync=True)     # {"feature", "ids": int32, "cosine": float32, "by": "decoder"}
    matches = t.Dict().tag(sync=True)       # {"id", "query", "ids": int32, "scores": float32, "density", "message"}
    search_hint = t.Unicode("music").tag(sync=True)  # the search box's example word (one that finds something)
    activation = t.Dict().tag(sync=True)    # {"text", "values": fp16 per point (÷ max activation)}
    height = t.Int(520).tag(sync=True)
    selected = _selected_alias()

    def __init__(self, lab, *, layout: str = "auto", by: str = "auto", n_neighbors: int = 10, progress: bool = True,
                 **kwargs):
        n_neighbors = renamed(kwargs, "n_neighbours", "n_neighbors", n_neighbors, 10)
        self._esm = esm("feature_map")
        self._lab, self._n_neighbors = lab, n_neighbors
        sae = lab.need_sae()
        self._map = fm.layout(lab, layout, progress=progress, by=by)
        # neighbours by the same similarity as the layout, so a selection lights up the points around it
        self._by_neighbors = "coactivation" if self._map.meta.get("by") == "coactivation" else "decoder"
        ex_mod.explanations(lab, progress=progress, tokens=False)  # with a notice when computed now
        feats = self._map.features
        self._position = np.full(sae.d_sae, -1, dtype=np.int64)   # feature -> point index (-1: not on the map)
        self._position[feats] = np.arange(len(feats))
        texts = [f"#{f}  {label}" for f, label in zip(feats, feature_labels(lab, feats, 4, tagged=True))]
        cluster = self._map.cluster
        points = {
            "xy": codecs.encode(self._map.xy, "float32"),
            "cluster": codecs.encode(np.where(cluster >= 0, cluster % 256, 255), "uint8"),
            "density": codecs.encode(np.round(fm.density(self._map.xy) * 255), "uint8"),
            "features": codecs.encode(feats, "int32"),
            "texts": "\n".join(s.replace("\n", " ") for s in texts).encode("utf-8"),
        }
        notice = []
        if self._map.method != "umap":
            notice.append("layout: PCA of the decoder directions (no UMAP layout for this SAE: "
                          "lab.map(layout='umap') computes one)")
        if self._map.subsampled:
            notice.append(f"showing a random {len(feats):,} of {sae.d_sae:,} features")
        super().__init__(d_sae=sae.d_sae, points=points, labels=list(self._map.labels), notice="; ".join(notice),
                         **kwargs)
        self.on_msg(self._on_request)

    # ---- Python API

    @t.validate("colour_by")
    def _validate_colour(self, proposal):
        if proposal["value"] not in COLOUR_MODES:
            raise t.TraitError(f"colour_by must be one of {COLOUR_MODES} (got {proposal['value']!r}).")
        return proposal["value"]

    @t.observe("feature")
    def _send_neighbors(self, change):
        f = change["new"]
        self.error = ""
        if f is None:
            self.neighbors = {}
            return
        ids, sims, by = neighbor_ids(self._lab, f, self._n_neighbors, self._by_neighbors)
        self.neighbors = {"feature": f, "ids": codecs.encode(ids, "int32"), "cosine": codecs.encode(sims, "float32"),
                          "by": by}

    def show(self, text: str) -> "FeatureMap":
        """Colour the points by their largest activation on ``text`` (÷ each feature's maximum activation)."""
        fa = self._lab.encode(text)
        peak = fa.values.max(0).values.numpy()
        stats = self._lab.stats
        if "max_activation" in stats:
            scale = np.asarray(stats["max_activation"], dtype=np.float32)
            rel = np.where(peak > 0, peak / np.maximum(scale, 1e-6), 0.0)
        else:
            rel = peak / max(float(peak.max()), 1e-6)
        rel = np.clip(rel[self._map.features], 0, 1)
        with self.hold_sync():
            self.activation = {"text": text, "values": codecs.encode(rel, "float16"),
                               "active": int((rel > 0).sum())}
            self.colour_by = "activation"
        return self

    def search(self, query: str, k: int = 20, request: Any = None) -> "FeatureMap":
        """Highlight the top ``k`` features of ``lab.search(query)`` (an empty query clears)."""
        if not query or not query.strip():
            self.matches = {"id": request, "query": "", "ids": codecs.encode(np.zeros(0), "int32"),
                            "scores": codecs.encode(np.zeros(0), "float32"), "message": ""}
            return self
        df = self._lab.search(query, k=k)
        self.last_search = df
        ids = df.feature.to_numpy()
        matches = {"id": request, "query": query, "ids": codecs.encode(ids, "int32"),
                   "scores": codecs.encode(df.score.to_numpy() if len(df) else np.zeros(0), "float32"),
                   "message": df.attrs.get("message", "")}
        frequency = self._lab.stats.get("frequency")
        if frequency is not None:  # the view sets dense features (fire on > 10% of tokens) apart, density shown
            matches["density"] = codecs.encode(np.asarray(frequency, dtype=np.float32)[ids.astype(np.int64)], "float32")
        self.matches = matches
        return self

    def position(self, feature: int) -> int:
        """The point index of ``feature`` (-1 when a subsampled map leaves it out)."""
        return int(self._position[check_feature(feature, self.d_sae)])

    @property
    def layout_data(self) -> fm.FeatureMap:
        return self._map

    # ---- requests from the view

    def _on_request(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "search":
            try:
                self.search(str(content.get("query", "")), request=content.get("id"))
            except Exception as err:  # noqa: BLE001 - shown in the view, never lost in the kernel log
                self.matches = {"id": content.get("id"), "query": content.get("query", ""),
                                "ids": codecs.encode(np.zeros(0), "int32"),
                                "scores": codecs.encode(np.zeros(0), "float32"), "message": f"search failed: {err}"}


class MapExplorer(ipywidgets.VBox):
    """``lab.map()``: the feature map above a feature card that shows the clicked feature.

    ``feature`` is the selected feature, linked (``traitlets.link``) to ``map.feature`` and ``card.feature``:
    link it to any other view, e.g. ``traitlets.link((m, "feature"), (heatmap, "feature"))``.
    """

    feature = t.Int(None, allow_none=True)
    selected = _selected_alias()

    def __init__(self, lab, *, card: bool = True, family=None, **kwargs):
        self._with_card, self._kwargs, self._family = card, kwargs, family
        self._views: dict[int, tuple] = {}  # family member -> (map, card), made on first use
        self.width_switch = None
        self.map, self.card = self._make(lab)
        if family is not None and len(family) > 1:
            # one toggle per SAE width of the family; switching keeps the selection on the best-matching feature
            self._member = family.contexts.index(lab)
            self._views[self._member] = (self.map, self.card)
            self.width_switch = ipywidgets.ToggleButtons(
                options=[(f"{family.width(i):,} latents", i) for i in range(len(family))], value=self._member,
                description="SAE width", tooltips=[f"the map of {name}" for name in family.names],
                style={"button_width": "auto"})
            self.width_switch.observe(self._switch_width, "value")
        super().__init__(children=self._children())
        self._link()

    def _make(self, lab) -> tuple:
        return FeatureMap(lab, **self._kwargs), feature_card(lab, None) if self._with_card else None

    def _link(self) -> None:
        self._links = [t.link((self.map, "feature"), (self, "feature"))]
        if self.card is not None:  # both ways: a neighbour clicked in the card moves the map
            self._links.append(t.link((self.map, "feature"), (self.card, "feature")))
        # the same link in the browser, so a saved page (save_html) or an nbconvert export still follows clicks
        self._jslinks = [ipywidgets.jslink((self.map, "feature"), (self.card, "feature"))] if self.card is not None else []

    def _children(self) -> list:
        top = [self.width_switch] if self.width_switch is not None else []
        return top + [self.map] + ([self.card] if self.card is not None else [])

    def _switch_width(self, change) -> None:
        old, new = change["old"], change["new"]
        selected = self.feature
        for link in self._links + self._jslinks:
            link.unlink()
        if new not in self._views:
            self._views[new] = self._make(self._family.contexts[new])
        self.map, self.card = self._views[new]
        self._link()
        self.children = self._children()
        self.feature = None if selected is None else int(self._family.best_in(old, new)[0][selected])

    def save_html(self, path, **kwargs):
        """The map (and its card) as one self-contained HTML file that works without a kernel."""
        from .export import save_html

        return save_html(self, path, **kwargs)

    def show(self, text: str) -> "MapExplorer":
        self.map.show(text)
        return self

    def search(self, query: str, k: int = 20) -> "MapExplorer":
        self.map.search(query, k)
        return self

    @property
    def colour_by(self) -> str:
        return self.map.colour_by

    @colour_by.setter
    def colour_by(self, mode: str) -> None:
        self.map.colour_by = mode


def feature_map(lab, *, card: bool = True, layout: str = "auto", n_neighbors: int = 10,
                progress: bool = True, family=None, **kwargs) -> MapExplorer:
    """The feature map of ``lab.sae`` (``lab.map()``); ``card=False`` for the map alone (still a container)."""
    n_neighbors = renamed(kwargs, "n_neighbours", "n_neighbors", n_neighbors, 10)
    return MapExplorer(lab, card=card, layout=layout, n_neighbors=n_neighbors, progress=progress, family=family,
                       **kwargs)
