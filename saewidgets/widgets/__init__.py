"""anywidget views: one small class a view, their JavaScript built from js/ into saewidgets/static/."""

from .heatmap import FeatureIndexError, Heatmap, heatmap

__all__ = ["Heatmap", "heatmap", "FeatureIndexError"]
