"""The selected feature that every view shares: one ``feature`` traitlet, checked against the SAE's width.

A bad index set from Python raises; one typed in the browser shows its error in the view and the
view snaps back to the last good feature.
"""

from __future__ import annotations

import traitlets as t

from ..checks import FeatureIndexError, check_feature  # noqa: F401 - FeatureIndexError re-exported


class FeatureSelection(t.HasTraits):
    """Mixin for anywidgets with a selected feature (``None``: nothing selected)."""

    feature = t.Int(None, allow_none=True).tag(sync=True)
    d_sae = t.Int(0).tag(sync=True)
    error = t.Unicode("").tag(sync=True)  # shown by the view; cleared by the next good change

    @t.validate("feature")
    def _validate_feature(self, proposal):
        feature = proposal["value"]
        if feature is None:
            return None
        try:
            return check_feature(feature, self.d_sae)
        except FeatureIndexError as err:
            self.error = str(err)  # shown in the view as well as raised
            raise

    def set_state(self, sync_data):
        """Changes from the browser: a rejected feature shows its error there and snaps back."""
        try:
            super().set_state(sync_data)
        except t.TraitError as err:
            self.error = str(err)
            self.send_state(["feature", "error"])

    def save_html(self, path, **kwargs):
        """This view as one self-contained HTML file that works without a kernel (``widgets/export.py``)."""
        from .export import save_html

        return save_html(self, path, **kwargs)
