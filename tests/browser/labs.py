"""The Lab that browser-test notebooks use: the real default model and SAE (``saewidgets.lab.load()``).

Until the shipped SAE exists (saewidgets/data/default-sae/), the real model with a random Top-K SAE
whose statistics come from a few sentences, so colours and tooltips have real numbers to show.
"""

from __future__ import annotations

import torch

from saewidgets.lab import DEFAULT_SAE_DIR, Lab, load


def browser_lab() -> Lab:
    if (DEFAULT_SAE_DIR / "cfg.json").exists():
        return load()
    return _random_sae_lab()


def _random_sae_lab() -> Lab:
    from saewidgets.hooks import HookPoint
    from saewidgets.models import load_model
    from saewidgets.sae import SAE

    model, tokenizer, name = load_model()
    sae = SAE.create(model.config.hidden_size, 4096, "topk", k=32, hook_name="blocks.15.hook_resid_post", seed=0)
    sae.requires_grad_(False)
    lab = Lab(model, tokenizer, sae, HookPoint(15), name)
    seen = torch.stack([lab.encode(s).values.amax(0) for s in [
        "The Golden Gate Bridge is a suspension bridge in San Francisco.",
        "def add(a, b):\n    return a + b",
        "Once upon a time, there was a little cat who loved to sleep in the sun.",
    ]]).amax(0)
    sae.stats = {"max_activation": torch.where(seen > 0, seen, seen.max())}
    return lab
