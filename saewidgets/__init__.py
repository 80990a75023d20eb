"""saewidgets: sparse-autoencoder interpretability in Jupyter.

    import saewidgets as sw
    lab = sw.load()                      # SmolLM2-135M-Instruct + the project's own SAE, offline
    lab.encode("The Golden Gate Bridge").top(5)
"""

from .evaluate import evaluate
from .hooks import HookPoint
from .lab import FeatureActivations, Lab, load
from .models import ModelLoadError
from .monitor import Monitor
from .sae import SAE, SAELoadError
from .train import train_sae
from .training_curves import TrainingCurves

__version__ = "0.1.0"
__all__ = ["load", "Lab", "FeatureActivations", "SAE", "SAELoadError", "ModelLoadError", "HookPoint", "Monitor",
           "train_sae", "TrainingCurves", "evaluate", "__version__"]
