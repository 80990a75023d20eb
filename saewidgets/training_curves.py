"""Live training curves for a notebook: a plotly FigureWidget updated in place as ``train_sae`` logs.

    curves = sw.TrainingCurves()
    curves                                   # shows the (empty) figure
    sae, history = sw.train_sae(lab, texts, callback=curves)
"""

from __future__ import annotations

import time

PANELS = (("fvu", "FVU (lower is better)"), ("l0", "L0 (active features per token)"),
          ("dead_fraction", "dead fraction"), ("loss", "loss (FVU + AuxK)"))


class TrainingCurves:
    """Call it with each history row; it redraws at most ``max_fps`` times a second."""

    def __init__(self, max_fps: float = 2.0, height: int = 420):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title in PANELS],
                            horizontal_spacing=0.1, vertical_spacing=0.18)
        for i, (key, _) in enumerate(PANELS):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=key, showlegend=False), row=i // 2 + 1,
                          col=i % 2 + 1)
        fig.update_xaxes(title_text="training tokens")
        fig.update_layout(height=height, margin=dict(l=50, r=20, t=40, b=40), template="plotly_white")
        self.figure = go.FigureWidget(fig)
        self.rows: list[dict] = []
        self._min_interval = 1.0 / max_fps
        self._last_draw = 0.0

    def __call__(self, row: dict) -> None:
        self.rows.append(row)
        if time.monotonic() - self._last_draw >= self._min_interval:
            self.redraw()

    def redraw(self) -> None:
        tokens = [r["tokens"] for r in self.rows]
        with self.figure.batch_update():
            for trace, (key, _) in zip(self.figure.data, PANELS):
                trace.x, trace.y = tokens, [r[key] for r in self.rows]
        self._last_draw = time.monotonic()

    def _repr_mimebundle_(self, **kwargs):
        return self.figure._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.figure)
