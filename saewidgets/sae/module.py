"""The SAE as a torch module: its config, the encode/decode computation, and weight surgery.

An SAE writes an activation x (width d_in) as a sparse code z (width d_sae) and reads it back:

    z     = act((x - b_dec·apply_b_dec_to_input) @ W_enc + b_enc)
    x_hat = z @ W_dec + b_dec,            error = x - x_hat

with act one of
    relu      ReLU                         (SAELens calls it "standard")
    jumprelu  ReLU, zero where pre <= threshold (per feature)
    topk      keep the k largest pre-activations per token, then ReLU
    batchtopk trained with a batch-wide top-k; at inference it is a JumpReLU with one learned
              threshold for every feature. That is what sae-lens 6.x does: a BatchTopK SAE is
              saved for inference as "jumprelu", so a batch's contents never change a token's code.

The numbers match the `sae-lens` 6.x package (checked against files and outputs it made, in
tests/fixtures/saelens). Reading and writing files is the business of the format modules beside
this one; SAE.load, save and from_pretrained hand over to them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ARCHITECTURES = ("topk", "batchtopk", "relu", "jumprelu")
ALIASES = {"standard": "relu"}  # SAELens' name for a plain ReLU SAE
# sae-lens applies neither of these inside the SAE at inference: "expected_average_only_in"
# is a scale folded into the weights once the factor is known (see fold_norm_scaling_factor).
NORMALIZATIONS = ("none", "expected_average_only_in")
STAT_KEYS = ("max_activation", "frequency", "mean_activation")

DTYPES = {"float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "float64": torch.float64}


class SAELoadError(ValueError):
    """An SAE could not be read: the message says which file and what to do."""


def dtype_name(dtype: str | torch.dtype) -> str:
    """The dtype's short name (torch.float32 -> "float32"); raises for dtypes SAEs do not use."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"unsupported SAE dtype {dtype!r}; use one of {list(DTYPES)}")
    return name


@dataclass
class SAEConfig:
    d_in: int
    d_sae: int
    architecture: str = "topk"
    k: float | None = None  # topk: latents kept per token; batchtopk: the training mean
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    rescale_acts_by_decoder_norm: bool = False  # topk: rank latents by pre * |W_dec row|
    hook_name: str | None = None  # TransformerLens-style name, e.g. "blocks.8.hook_resid_post"
    model_name: str | None = None
    dtype: str = "float32"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.architecture = ALIASES.get(self.architecture, self.architecture)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown SAE architecture {self.architecture!r}; supported: "
                             f"{', '.join(ARCHITECTURES)} ('standard' = relu)")
        if self.normalize_activations not in NORMALIZATIONS:
            raise ValueError(f"normalize_activations={self.normalize_activations!r} is not "
                             f"supported; supported: {', '.join(NORMALIZATIONS)}")
        if self.architecture in ("topk", "batchtopk") and not self.k:
            raise ValueError(f"a {self.architecture} SAE needs k")
        if self.architecture == "topk":
            self.k = int(self.k)
        if self.rescale_acts_by_decoder_norm and self.architecture != "topk":
            raise ValueError("rescale_acts_by_decoder_norm applies to topk SAEs only")
        self.dtype = dtype_name(self.dtype)

    @property
    def layer(self) -> int | None:
        """The block index in hook_name ("blocks.8.hook_resid_post" -> 8), if there is one."""
        m = re.search(r"blocks\.(\d+)\.", self.hook_name or "")
        return int(m.group(1)) if m else None


class SAEOutput(NamedTuple):
    reconstruction: Tensor  # decode(encode(x)), in x's dtype
    error: Tensor  # x - reconstruction: what the SAE misses; steering keeps it
    features: Tensor  # dense codes [..., d_sae]


class SAE(nn.Module):
    def __init__(self, cfg: SAEConfig, *, seed: int | None = None):
        super().__init__()
        self.cfg = cfg
        dtype = DTYPES[cfg.dtype]
        # Tied init with unit-norm decoder rows (Gao et al. 2024): a sound start for training.
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        w = torch.randn(cfg.d_sae, cfg.d_in, generator=gen)
        w = w / w.norm(dim=-1, keepdim=True)
        self.W_enc = nn.Parameter(w.T.contiguous().to(dtype))
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dtype))
        self.W_dec = nn.Parameter(w.to(dtype))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in, dtype=dtype))
        if cfg.architecture in ("jumprelu", "batchtopk"):
            self.threshold = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dtype))
        else:
            self.register_parameter("threshold", None)
        # Optional per-feature statistics ([d_sae] float32 each, keys STAT_KEYS); kept out of
        # the state dict so that sae-lens still reads our weight files.
        self.stats: dict[str, Tensor] | None = None
        self.source_folder: Path | None = None  # set by SAE.load: where its feature store looks first

    @classmethod
    def create(cls, d_in: int, d_sae: int, architecture: str = "topk", k: float | None = 32, *,
               hook_name: str | None = None, model_name: str | None = None,
               apply_b_dec_to_input: bool = True, dtype: str | torch.dtype = "float32",
               device: str | torch.device = "cpu", seed: int | None = None, **metadata) -> SAE:
        """A freshly initialised SAE; k is ignored by relu and jumprelu."""
        arch = ALIASES.get(architecture, architecture)
        cfg = SAEConfig(d_in, d_sae, arch, k if arch in ("topk", "batchtopk") else None,
                        apply_b_dec_to_input=apply_b_dec_to_input, hook_name=hook_name,
                        model_name=model_name, dtype=dtype_name(dtype), metadata=metadata)
        return cls(cfg, seed=seed).to(device)

    # ---- shapes and checks

    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def device(self) -> torch.device:
        return self.W_enc.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_enc.dtype

    def check_width(self, d_model: int) -> None:
        """Raise if this SAE cannot read activations of width d_model."""
        if d_model != self.cfg.d_in:
            raise ValueError(f"SAE width mismatch: the SAE reads activations of width "
                             f"d_in={self.cfg.d_in}, but the model's width is {d_model} "
                             f"(SAE trained on {self.cfg.model_name or 'an unknown model'}, "
                             f"hook {self.cfg.hook_name or 'unknown'})")

    # ---- the computation

    def pre_acts(self, x: Tensor) -> Tensor:
        """Encoder pre-activations [..., d_sae], before the sparsifying activation."""
        x = x.to(self.dtype)
        if self.cfg.apply_b_dec_to_input:
            x = x - self.b_dec
        pre = x @ self.W_enc + self.b_enc
        if self.cfg.rescale_acts_by_decoder_norm:
            pre = pre * self.W_dec.norm(dim=-1)
        return pre

    def encode(self, x: Tensor) -> Tensor:
        """Dense feature activations [..., d_sae]."""
        pre = self.pre_acts(x)
        if self.cfg.architecture == "topk":
            values, indices = pre.topk(self.cfg.k, dim=-1, sorted=False)
            return torch.zeros_like(pre).scatter_(-1, indices, values.relu())
        if self.cfg.architecture == "relu":
            return pre.relu()
        return pre.relu() * (pre > self.threshold)  # jumprelu, and batchtopk at inference

    def encode_sparse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(values, indices), each [..., k], largest first; the same code as encode().

        For topk nothing of size d_sae is built beyond the pre-activations. For other
        architectures k is the largest number of active features in any row, and rows with
        fewer carry zero values (at arbitrary indices).
        """
        if self.cfg.architecture == "topk":
            values, indices = self.pre_acts(x).topk(self.cfg.k, dim=-1)
            return values.relu(), indices
        z = self.encode(x)
        k = int((z != 0).sum(-1).max()) if z.numel() else 0
        return z.topk(max(k, 1), dim=-1)

    def decode(self, z: Tensor) -> Tensor:
        """Reconstruction [..., d_in] from dense codes, in the SAE's dtype."""
        z = z.to(self.dtype)
        if self.cfg.rescale_acts_by_decoder_norm:
            z = z * (1 / self.W_dec.norm(dim=-1))
        return z @ self.W_dec + self.b_dec

    def decode_sparse(self, values: Tensor, indices: Tensor) -> Tensor:
        """decode() for (values, indices) codes, without building the dense [..., d_sae] code."""
        values = values.to(self.dtype)
        if self.cfg.rescale_acts_by_decoder_norm:
            values = values / self.W_dec.norm(dim=-1)[indices]
        k = indices.shape[-1]
        # embedding_bag sums the chosen decoder rows weighted by the values, row by row.
        out = F.embedding_bag(indices.reshape(-1, k), self.W_dec, mode="sum",
                              per_sample_weights=values.reshape(-1, k))
        return out.reshape(*indices.shape[:-1], self.cfg.d_in) + self.b_dec

    def forward(self, x: Tensor) -> SAEOutput:
        z = self.encode(x)
        x_hat = self.decode(z).to(x.dtype)
        # In floating point (x - x_hat) + x_hat can differ from x by an ulp when |x_hat| and
        # |x| differ a lot; to edit features without that, add decode(z') - decode(z) to x.
        return SAEOutput(x_hat, x - x_hat, z)

    # ---- weight surgery

    @torch.no_grad()
    def normalize_decoder_(self) -> SAE:
        """Scale decoder rows to unit norm (a training constraint; changes the function)."""
        self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(self.dtype).eps)
        return self

    @torch.no_grad()
    def fold_norm_scaling_factor(self, factor: float) -> SAE:
        """Absorb "expected_average_only_in" (inputs were multiplied by `factor` in training).

        Afterwards the SAE reads raw activations: normalize_activations becomes "none". This is
        what sae-lens does at the end of training and when a release lists the factor.
        """
        self.W_enc *= factor
        self.W_dec /= factor
        self.b_dec /= factor
        self.cfg.normalize_activations = "none"
        return self

    # ---- files: each format lives in its own module beside this one. Those modules build SAE
    # objects, so they import this one; importing them here, when called, keeps that one-way.

    def save(self, path: str | os.PathLike) -> Path:
        """Write an SAELens directory (cfg.json + sae_weights.safetensors) that sae-lens 6.x
        reads with SAE.load_from_disk; stats go to feature_stats.safetensors beside them."""
        from .saelens import save_saelens

        return save_saelens(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
             dtype: str | torch.dtype | None = None, *,
             norm_scaling_factor: float | None = None) -> SAE:
        """Read an SAELens directory, a sparsify directory or a Gemma Scope params.npz.

        dtype=None keeps the stored dtype. norm_scaling_factor, when the SAE was trained with
        normalize_activations="expected_average_only_in", is folded into the weights (a
        sae-lens checkpoint's activation_scaler.json supplies it too).
        """
        from .loading import load_sae

        return load_sae(path, device, dtype, norm_scaling_factor=norm_scaling_factor)

    @classmethod
    def from_pretrained(cls, release_or_repo: str, sae_id: str | None = None, *,
                        device: str | torch.device = "cpu",
                        dtype: str | torch.dtype | None = None) -> SAE:
        """Download and load an SAE from the Hugging Face Hub (or its local cache).

        release_or_repo is a SAELens release id (looked up in the installed sae_lens package's
        directory of pretrained SAEs, if there is one) or a Hub repo id with sae_id as the
        folder inside it. A local path is loaded as it is.
        """
        from .hub import sae_from_hub

        return sae_from_hub(release_or_repo, sae_id, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        c = self.cfg
        k = f", k={c.k}" if c.k else ""
        return f"{c.architecture}, d_in={c.d_in}, d_sae={c.d_sae}{k}, hook={c.hook_name}"
