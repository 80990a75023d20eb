"""anywidget views: one small class a view, their JavaScript built from js/ into saewidgets/static/."""

from .heatmap import Heatmap, heatmap
from .selection import FeatureIndexError

__all__ = ["Heatmap", "heatmap", "FeatureIndexError"]
