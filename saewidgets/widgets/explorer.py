"""``lab.explorer()``: every view in one place, linked by one selected feature.

Type a text and press *Show*: its heatmap appears. Clicking a feature anywhere (a feature in the heatmap's
token list, a point on the map, a neighbour in the card) selects it: the card shows it, the map highlights
it and its neighbours, and *Steer #N* puts it on a slider of the steering panel below, scrolls to the panel
and generates. The text box on top feeds the heatmap (and the map's colours); the steering panel's own
prompt box feeds the generation.
"""

from __future__ import annotations

import ipywidgets
import traitlets as t

from ..checks import check_feature
from .feature_card import feature_card
from .feature_map import FeatureMap
from .heatmap import heatmap

DEFAULT_TEXT = "The Golden Gate Bridge is a suspension bridge in San Francisco."


class Explorer(ipywidgets.VBox):
    """Heatmap, feature card, feature map and steering panel sharing ``feature`` (a traitlet, linked to each
    view's ``feature`` with ``traitlets.link``)."""

    feature = t.Int(None, allow_none=True)

    def __init__(self, lab, text: str | None = None, *, show_map: bool = True, steer: bool = True, monitor=None):
        self._lab = lab
        self.text = ipywidgets.Textarea(value=DEFAULT_TEXT if text is None else text, rows=2,
                                        placeholder="Type a text, then Show",
                                        layout=ipywidgets.Layout(flex="1 1 auto", width="auto"))
        show = ipywidgets.Button(description="Show", icon="eye", tooltip="show this text's heatmap",
                                 layout=ipywidgets.Layout(width="auto"))
        show.on_click(lambda _: self.show(self.text.value))
        self.steer_button = ipywidgets.Button(description="Steer it", icon="sliders", disabled=True,
                                              tooltip="add the selected feature to the steering panel below, "
                                                      "scroll to it and generate",
                                              layout=ipywidgets.Layout(width="auto"))
        self.steer_button.on_click(lambda _: self._steer_selected())
        self.heatmap_box = ipywidgets.VBox()
        self.card = feature_card(lab, None)
        self.map = None
        self.panel = None
        # two text boxes on one page: each says what it feeds (the steering panel's says "Prompt to generate from")
        self.text_label = ipywidgets.Label("Text to analyse: feeds the heatmap and the map's colours")
        children = [self.text_label, ipywidgets.HBox([self.text, ipywidgets.VBox([show, self.steer_button])]),
                    self.heatmap_box, self.card]
        if show_map:
            self.map = FeatureMap(lab)
            children.append(self.map)
        self.monitor_view = None
        if steer:
            self.panel = lab.steer(monitor=monitor) if monitor is not None else lab.steer()
            if monitor is not None:  # the monitor's timeline beside the panel; the panel watches its generations
                self.monitor_view = self.panel.monitor_view
                self.monitor_view.layout = ipywidgets.Layout(flex="1 1 22rem", min_width="18rem")
                self.panel.layout.flex = "2 1 30rem"
                children.append(ipywidgets.HBox([self.panel, self.monitor_view],
                                                layout=ipywidgets.Layout(flex_flow="row wrap")))
            else:
                children.append(self.panel)
        elif monitor is not None:
            from .monitor import MonitorView

            self.monitor_view = MonitorView(monitor)
            children.append(self.monitor_view)
        super().__init__(children=children)
        self._links = [t.link((self, "feature"), (view, "feature")) for view in (self.card, self.map) if view is not None]
        # The same links in the browser (ipywidgets.jslink): a click moves every view at once, and they keep
        # working in a saved page or an nbconvert export, where no kernel runs the Python links above.
        self._jslinks = [ipywidgets.jslink((self.card, "feature"), (self.map, "feature"))] if self.map is not None else []
        self.heatmap = None
        self._heatmap_link = None
        self._heatmap_jslink = None
        self.show(self.text.value)

    def show(self, text: str) -> "Explorer":
        """Show ``text``'s heatmap (coloured by the selected feature, if any) and light it up on the map."""
        self.text.value = text
        if self._heatmap_link is not None:
            self._heatmap_link.unlink()
        self.heatmap = heatmap(self._lab, text, self.feature)
        self._heatmap_link = t.link((self, "feature"), (self.heatmap, "feature"))
        if self._heatmap_jslink is not None:
            self._jslinks.remove(self._heatmap_jslink)
            self._heatmap_jslink.close()
        self._heatmap_jslink = ipywidgets.jslink((self.heatmap, "feature"), (self.card, "feature"))
        self._jslinks.append(self._heatmap_jslink)
        self.heatmap_box.children = [self.heatmap]
        if self.map is not None and text.strip():
            self.map.show(text)
        return self

    @t.validate("feature")
    def _check(self, proposal):
        value = proposal["value"]
        return None if value is None else check_feature(value, self._lab.sae.d_sae)

    @t.observe("feature")
    def _steer_button(self, change) -> None:
        feature = change["new"]
        self.steer_button.disabled = feature is None or self.panel is None
        if feature is not None:
            self.steer_button.description = f"Steer #{feature}"
            self.steer_button.tooltip = (f"add #{feature} to the steering panel below, scroll to it and generate "
                                         "steered beside unsteered")

    def attribute(self, prompt: str, **kwargs):
        """Add the attribution view of ``prompt`` (``lab.attribution``) under the card, linked by the same
        selected feature: a feature clicked among a token's causes opens in the card, the map and the panel."""
        from .attribution import AttributionView

        view = AttributionView(self._lab, prompt, **kwargs)
        self._links.append(t.link((self, "feature"), (view, "feature")))
        self._jslinks.append(ipywidgets.jslink((view, "feature"), (self.card, "feature")))
        children = list(self.children)
        children.insert(children.index(self.card) + 1, view)
        self.children = children
        self.attribution = view
        return view

    def save_html(self, path, **kwargs):
        """The explorer as one self-contained HTML file that works without a kernel (``widgets/export.py``)."""
        from .export import save_html

        return save_html(self, path, **kwargs)

    def _steer_selected(self) -> None:
        """*Steer #N*: a slider for the feature, the panel scrolled into view, and a generation started (the
        panel sits far below the button, and a slider alone changes nothing on screen)."""
        if self.panel is not None and self.feature is not None:
            self.panel.add(self.feature)
            self.panel.reveal(self.feature)
            self.panel.run()


def explorer(lab, text: str | None = None, *, show_map: bool = True, steer: bool = True, monitor=None) -> Explorer:
    """``lab.explorer()``: heatmap, card, map and steering panel, linked by one selected feature (and, with
    ``monitor``, the monitor's live timeline beside the panel)."""
    return Explorer(lab, text, show_map=show_map, steer=steer, monitor=monitor)
