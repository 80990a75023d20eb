"""Residual-stream hook points for any Hugging Face decoder model.

A hook point is ``resid_post`` (the output of block L) or ``resid_pre`` (its input). SAELens names
(``blocks.8.hook_resid_post``) are accepted. Every hook is a context manager whose handle is removed
in ``finally``, so after an exception or KeyboardInterrupt the model is exactly as before.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

_SAELENS_NAME = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_post)$")


@dataclass(frozen=True)
class HookPoint:
    layer: int
    kind: str = "resid_post"  # or "resid_pre"

    @property
    def name(self) -> str:
        """The SAELens name, stored in SAE configs."""
        return f"blocks.{self.layer}.hook_{self.kind}"

    @classmethod
    def parse(cls, spec: "HookPoint | int | str", n_layers: int | None = None) -> "HookPoint":
        if isinstance(spec, HookPoint):
            point = spec
        elif isinstance(spec, int) and not isinstance(spec, bool):
            point = cls(spec)
        elif isinstance(spec, str) and (m := _SAELENS_NAME.match(spec.strip())):
            point = cls(int(m.group(1)), m.group(2))
        elif isinstance(spec, str) and spec.strip().lstrip("-").isdigit():
            point = cls(int(spec))
        else:
            raise ValueError(
                f"unknown hook point {spec!r}: use a layer number or a SAELens name such as "
                "'blocks.15.hook_resid_post' or 'blocks.15.hook_resid_pre'."
            )
        if n_layers is not None and not 0 <= point.layer < n_layers:
            raise ValueError(f"layer {point.layer} is out of range: this model has layers 0..{n_layers - 1}.")
        return point


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks, found structurally so any decoder family works."""
    n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"could not find the {n} decoder blocks of {type(model).__name__}.")


def hook_device(model: nn.Module, point: HookPoint) -> torch.device:
    """The device of the activation seen at ``point``: where the SAE and steering tensors should live.

    One device for the whole model: that one. A model spread over devices (``device_map``, accelerate): the
    output of block L (``resid_post``) stays on block L's execution device; the input of block L
    (``resid_pre``) is seen before accelerate moves it, on block L-1's device (the embeddings' for L=0).
    """
    layers = decoder_layers(model)
    if point.kind == "resid_post" or point.layer > 0:
        module = layers[point.layer if point.kind == "resid_post" else point.layer - 1]
    else:
        module = model.get_input_embeddings()
    return module_device(module)


def module_device(module: nn.Module) -> torch.device:
    """Where ``module`` runs: accelerate's execution device when it dispatched the module, else its weights'."""
    hook = getattr(module, "_hf_hook", None)
    execution = getattr(hook, "execution_device", None)
    if execution is not None:
        return torch.device(execution if not isinstance(execution, int) else f"cuda:{execution}")
    for p in module.parameters():
        if p.device.type != "meta":
            return p.device
    return torch.device("cpu")


def _hidden(output):
    """Blocks return a tensor or a tuple whose first item is the hidden state."""
    return output[0] if isinstance(output, tuple) else output


def _with_hidden(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextlib.contextmanager
def edit(model: nn.Module, point: HookPoint, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call ``fn(hidden)`` at the hook point on every forward; a returned tensor replaces the activation."""
    block = decoder_layers(model)[point.layer]
    if point.kind == "resid_post":

        def hook(_module, _args, output):
            new = fn(_hidden(output))
            return None if new is None else _with_hidden(output, new)

        handle = block.register_forward_hook(hook)
    else:

        def pre_hook(_module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            new = fn(hidden)
            if new is None:
                return None
            if args:
                return (new, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": new}

        handle = block.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


class _StopForward(Exception):
    """Raised inside a hook to skip the layers after the hook point."""


class Capture:
    """Holds the activation seen at a hook point (``.value``) after a forward."""

    value: torch.Tensor | None = None


@contextlib.contextmanager
def capture(model: nn.Module, point: HookPoint, stop: bool = False) -> Iterator[Capture]:
    """Record the activation at ``point``; with ``stop=True`` the forward ends there (cheaper)."""
    box = Capture()

    def grab(hidden):
        box.value = hidden
        if stop:
            raise _StopForward

    with edit(model, point, grab):
        try:
            yield box
        except _StopForward:
            pass


@torch.no_grad()
def run_to(model: nn.Module, point: HookPoint, input_ids: torch.Tensor, attention_mask=None) -> torch.Tensor:
    """Activations ``[batch, seq, d_model]`` at ``point``, running only the blocks up to it."""
    with capture(model, point, stop=True) as box:
        model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    if box.value is None:
        raise RuntimeError(f"the forward pass never reached {point.name}.")
    return box.value
