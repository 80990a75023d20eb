"""Sparse autoencoders: the torch module and the files it lives in.

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
tests/fixtures/saelens). Files:
    SAELens directory  cfg.json + sae_weights.safetensors (what `save` writes; sae-lens reads it)
    sparsify directory cfg.json + sae.safetensors (EleutherAI)
    Gemma Scope        params.npz (a file, or a folder holding one)
Weights are read only from safetensors and from npz with pickling switched off: a pickle can run
code when it is opened, so .pt/.pkl/.bin files are refused with a note on converting them.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ARCHITECTURES = ("topk", "batchtopk", "relu", "jumprelu")
ALIASES = {"standard": "relu"}  # SAELens' name for a plain ReLU SAE
# sae-lens applies neither of these inside the SAE at inference: "expected_average_only_in"
# is a scale folded into the weights once the factor is known (see fold_norm_scaling_factor).
NORMALIZATIONS = ("none", "expected_average_only_in")

SAELENS_CFG, SAELENS_WEIGHTS = "cfg.json", "sae_weights.safetensors"
SPARSIFY_WEIGHTS, GEMMA_SCOPE_WEIGHTS = "sae.safetensors", "params.npz"
STATS_FILE, SCALER_FILE = "feature_stats.safetensors", "activation_scaler.json"
STAT_KEYS = ("max_activation", "frequency", "mean_activation")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")
# Written as metadata.sae_lens_version: sae-lens reads an older (or missing) value as a pre-6.0
# config and rewrites it, so files we save must say they are in the 6.x layout.
SAELENS_FORMAT_VERSION = "6.0.0"

_DTYPES = {"float32": torch.float32, "float16": torch.float16,
           "bfloat16": torch.bfloat16, "float64": torch.float64}


class SAELoadError(ValueError):
    """An SAE could not be read: the message says which file and what to do."""


def _dtype_name(dtype: str | torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise ValueError(f"unsupported SAE dtype {dtype!r}; use one of {list(_DTYPES)}")
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
        self.dtype = _dtype_name(self.dtype)

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
        dtype = _DTYPES[cfg.dtype]
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

    @classmethod
    def create(cls, d_in: int, d_sae: int, architecture: str = "topk", k: float | None = 32, *,
               hook_name: str | None = None, model_name: str | None = None,
               apply_b_dec_to_input: bool = True, dtype: str | torch.dtype = "float32",
               device: str | torch.device = "cpu", seed: int | None = None, **metadata) -> SAE:
        """A freshly initialised SAE; k is ignored by relu and jumprelu."""
        arch = ALIASES.get(architecture, architecture)
        cfg = SAEConfig(d_in, d_sae, arch, k if arch in ("topk", "batchtopk") else None,
                        apply_b_dec_to_input=apply_b_dec_to_input, hook_name=hook_name,
                        model_name=model_name, dtype=_dtype_name(dtype), metadata=metadata)
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

    # ---- saving

    def save(self, path: str | os.PathLike) -> Path:
        """Write an SAELens directory (cfg.json + sae_weights.safetensors) that sae-lens 6.x
        reads with SAE.load_from_disk; stats go to feature_stats.safetensors beside them."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        weights = {name: p.detach().contiguous().cpu() for name, p in self.named_parameters()}
        save_file(weights, str(path / SAELENS_WEIGHTS))
        (path / SAELENS_CFG).write_text(json.dumps(self._saelens_cfg(), indent=2))
        stats_path = path / STATS_FILE
        if self.stats:
            stats = {k: v.detach().float().contiguous().cpu() for k, v in self.stats.items()}
            save_file(stats, str(stats_path))
        elif stats_path.exists():
            stats_path.unlink()  # stale statistics from an earlier save would be read back
        return path

    def _saelens_cfg(self) -> dict[str, Any]:
        cfg = self.cfg
        metadata = {"sae_lens_version": SAELENS_FORMAT_VERSION,
                    "sae_lens_training_version": SAELENS_FORMAT_VERSION,
                    **cfg.metadata, "model_name": cfg.model_name, "hook_name": cfg.hook_name}
        architecture = "standard" if cfg.architecture == "relu" else cfg.architecture
        if cfg.architecture == "batchtopk":
            # Saved as sae-lens saves it for inference: a JumpReLU, with the training
            # architecture and k in the metadata.
            architecture = "jumprelu"
            metadata["training_architecture"] = "batchtopk"
            details = dict(metadata.get("training_architecture_details") or {})
            metadata["training_architecture_details"] = {**details, "k": cfg.k}
        out = {"d_in": cfg.d_in, "d_sae": cfg.d_sae, "dtype": _dtype_name(self.dtype),
               "device": str(self.device), "apply_b_dec_to_input": cfg.apply_b_dec_to_input,
               "normalize_activations": cfg.normalize_activations,
               "reshape_activations": "none", "metadata": metadata}
        if architecture == "topk":
            out["k"] = cfg.k
            out["rescale_acts_by_decoder_norm"] = cfg.rescale_acts_by_decoder_norm
        out["architecture"] = architecture
        return out

    # ---- loading

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
             dtype: str | torch.dtype | None = None, *,
             norm_scaling_factor: float | None = None) -> SAE:
        """Read an SAELens directory, a sparsify directory or a Gemma Scope params.npz.

        dtype=None keeps the stored dtype. norm_scaling_factor, when the SAE was trained with
        normalize_activations="expected_average_only_in", is folded into the weights (a
        sae-lens checkpoint's activation_scaler.json supplies it too).
        """
        path = Path(path)
        if not path.exists():
            raise SAELoadError(f"no SAE at {path}: the path does not exist")
        if path.is_file():
            _refuse_pickle(path)
            if path.suffix == ".npz":
                return _load_gemma_scope(path, device, dtype)
            if path.suffix not in (".json", ".safetensors"):
                raise SAELoadError(f"{path}: not an SAE file; give an SAELens or sparsify "
                                   f"directory, or a Gemma Scope {GEMMA_SCOPE_WEIGHTS}")
            path = path.parent  # cfg.json or the weights file: read the directory they are in
        if (path / SAELENS_CFG).exists():
            raw = _read_json(path / SAELENS_CFG)
            if "d_sae" not in raw and ("num_latents" in raw or "expansion_factor" in raw):
                return _load_sparsify(path, raw, device, dtype)
            return _load_saelens(path, raw, device, dtype, norm_scaling_factor)
        if (path / GEMMA_SCOPE_WEIGHTS).exists():
            return _load_gemma_scope(path / GEMMA_SCOPE_WEIGHTS, device, dtype)
        for f in sorted(path.iterdir()):
            if f.suffix in PICKLE_SUFFIXES:
                _refuse_pickle(f)
        raise SAELoadError(f"no SAE files in {path}: expected {SAELENS_CFG} + {SAELENS_WEIGHTS} "
                           f"(SAELens), {SAELENS_CFG} + {SPARSIFY_WEIGHTS} (sparsify) or "
                           f"{GEMMA_SCOPE_WEIGHTS} (Gemma Scope)")

    @classmethod
    def from_pretrained(cls, release_or_repo: str, sae_id: str | None = None, *,
                        device: str | torch.device = "cpu",
                        dtype: str | torch.dtype | None = None) -> SAE:
        """Download and load an SAE from the Hugging Face Hub (or its local cache).

        release_or_repo is a SAELens release id (looked up in the installed sae_lens package's
        directory of pretrained SAEs, if there is one) or a Hub repo id with sae_id as the
        folder inside it. A local path is loaded as it is.
        """
        if sae_id is None and Path(release_or_repo).exists():
            return cls.load(release_or_repo, device, dtype)
        repo_id, folder, factor = release_or_repo, sae_id, None
        release = _pretrained_directory().get(release_or_repo)
        if release is not None:
            saes = {s["id"]: s for s in release.get("saes", [])}
            if sae_id not in saes:
                ids = list(saes)
                raise SAELoadError(f"sae_id {sae_id!r} is not in SAELens release "
                                   f"{release_or_repo!r}; some valid ids: {ids[:8]}")
            repo_id, folder = release["repo_id"], str(saes[sae_id]["path"])
            factor = saes[sae_id].get("norm_scaling_factor")
        local = _download(repo_id, folder)
        sae = cls.load(local, device, dtype, norm_scaling_factor=factor)
        if release is not None and sae.cfg.model_name is None:
            sae.cfg.model_name = release.get("model")
        source = f"{release_or_repo}:{sae_id}" if sae_id else release_or_repo
        sae.cfg.metadata.setdefault("source", source)
        return sae

    def extra_repr(self) -> str:
        c = self.cfg
        k = f", k={c.k}" if c.k else ""
        return f"{c.architecture}, d_in={c.d_in}, d_sae={c.d_sae}{k}, hook={c.hook_name}"


# ---- readers, one per format


def _refuse_pickle(path: Path) -> None:
    if path.suffix in PICKLE_SUFFIXES:
        raise SAELoadError(
            f"{path}: pickled weights are refused (opening a pickle can run arbitrary code). "
            f"If you trust the file, convert it once: sd = torch.load(path, weights_only=True); "
            f"build SAE(SAEConfig(d_in=..., d_sae=..., architecture=...)), "
            f"sae.load_state_dict(sd) with keys W_enc, b_enc, W_dec, b_dec (and threshold), "
            f"then sae.save(folder) -- or safetensors.torch.save_file(sd, "
            f"'{SAELENS_WEIGHTS}') next to a cfg.json.")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SAELoadError(f"{path}: cannot read the SAE config ({e})") from None


def _read_safetensors(path: Path, device) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    if not path.exists():
        pickles = [f.name for f in sorted(path.parent.iterdir()) if f.suffix in PICKLE_SUFFIXES]
        also = (f"; {pickles} are pickled and refused: load them with torch yourself and "
                f"save the weights as {path.name} (see SAE.save)") if pickles else ""
        raise SAELoadError(f"{path.parent}: the weights file {path.name} is missing{also}")
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors reports truncation/corruption with its own error type
        raise SAELoadError(f"{path}: not a readable safetensors file, truncated or corrupt "
                           f"({type(e).__name__}: {e})") from None


def _build(cfg: SAEConfig, weights: dict[str, Tensor], source: Path, device, dtype) -> SAE:
    """An SAE with these weights, checked against the config's shapes."""
    if dtype is not None:
        cfg.dtype = _dtype_name(dtype)
    d_in, d_sae = cfg.d_in, cfg.d_sae
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    if cfg.architecture in ("jumprelu", "batchtopk"):
        shapes["threshold"] = (d_sae,)
    scale = weights.pop("scaling_factor", None)  # written as all ones by some sae-lens versions
    if scale is not None and not torch.all(scale == 1):
        raise SAELoadError(f"{source}: a fine-tuning scaling_factor is not supported")
    missing = [k for k in shapes if k not in weights]
    extra = [k for k in weights if k not in shapes]
    if missing or extra:
        raise SAELoadError(f"{source}: weights do not fit a {cfg.architecture} SAE "
                           f"(missing {missing}, unexpected {extra})")
    for name, shape in shapes.items():
        if tuple(weights[name].shape) != shape:
            raise SAELoadError(f"{source}: {name} has shape {tuple(weights[name].shape)}, "
                               f"expected {shape} for d_in={d_in}, d_sae={d_sae}")
    with torch.device("meta"):  # no throwaway initialisation of full-size weights
        sae = SAE(cfg)
    target = _DTYPES[cfg.dtype]
    sae.load_state_dict({k: v.to(device=device, dtype=target) for k, v in weights.items()},
                        assign=True)
    return sae


def _load_saelens(path: Path, raw: dict[str, Any], device, dtype, factor) -> SAE:
    meta = dict(raw.get("metadata") or {})
    for key in ("sae_lens_version", "sae_lens_training_version"):
        if meta.get(key) == SAELENS_FORMAT_VERSION:  # our own format marker, written on save
            del meta[key]
    for key in ("model_name", "hook_name", "hook_head_index", "context_size", "prepend_bos",
                "dataset_path", "neuronpedia_id"):  # pre-6.0 configs keep these at top level
        if key in raw and key not in meta:
            meta[key] = raw[key]
    if "hook_point" in raw and "hook_name" not in meta:
        meta["hook_name"] = raw["hook_point"]
    arch, k = raw.get("architecture", "standard"), raw.get("k")
    if arch == "standard" and raw.get("activation_fn_str", raw.get("activation_fn")) == "topk":
        arch, k = "topk", (raw.get("activation_fn_kwargs") or {}).get("k")  # pre-6.0 topk
    details = meta.get("training_architecture_details") or {}
    if arch == "jumprelu" and meta.get("training_architecture") == "batchtopk" and "k" in details:
        # Held by cfg.architecture and cfg.k from here on; save writes them back.
        del meta["training_architecture"]
        details = dict(meta.pop("training_architecture_details", None) or {})
        arch, k = "batchtopk", details.pop("k", None)
        if details:
            meta["training_architecture_details"] = details
    arch = ALIASES.get(arch, arch)
    if arch not in ARCHITECTURES:
        raise SAELoadError(f"{path / SAELENS_CFG}: unknown SAE architecture {arch!r}; "
                           f"supported: {', '.join(ARCHITECTURES)} ('standard' = relu)")
    norm = raw.get("normalize_activations", "none")
    norm = {None: "none", False: "none", True: "expected_average_only_in"}.get(norm, norm)
    if raw.get("reshape_activations", "none") != "none":
        raise SAELoadError(f"{path / SAELENS_CFG}: reshape_activations="
                           f"{raw['reshape_activations']!r} is not supported; supported: none")
    try:
        cfg = SAEConfig(
            d_in=int(raw["d_in"]), d_sae=int(raw["d_sae"]), architecture=arch, k=k,
            apply_b_dec_to_input=bool(raw.get("apply_b_dec_to_input", True)),
            normalize_activations=norm,
            rescale_acts_by_decoder_norm=bool(raw.get("rescale_acts_by_decoder_norm", False)),
            hook_name=meta.pop("hook_name", None), model_name=meta.pop("model_name", None),
            dtype=raw.get("dtype", "float32"), metadata=meta)
    except (KeyError, ValueError, TypeError) as e:
        raise SAELoadError(f"{path / SAELENS_CFG}: {e}") from None
    sae = _build(cfg, _read_safetensors(path / SAELENS_WEIGHTS, device), path, device, dtype)
    if factor is None and (path / SCALER_FILE).exists():  # a sae-lens training checkpoint
        factor = _read_json(path / SCALER_FILE).get("scaling_factor")
    if cfg.normalize_activations == "expected_average_only_in":
        if factor is not None:
            sae.fold_norm_scaling_factor(factor)
        else:  # sae-lens then runs the SAE on raw activations too; say so
            warnings.warn(f"{path}: normalize_activations='expected_average_only_in' but no "
                          f"scaling factor is known, so inputs are not rescaled (as in sae-lens); "
                          f"pass norm_scaling_factor= to SAE.load", stacklevel=3)
    if (path / STATS_FILE).exists():
        stats = _read_safetensors(path / STATS_FILE, "cpu")
        bad = [k for k, v in stats.items() if tuple(v.shape) != (cfg.d_sae,)]
        if bad:
            raise SAELoadError(f"{path / STATS_FILE}: {bad} are not of shape [{cfg.d_sae}]")
        sae.stats = {k: v.float() for k, v in stats.items()}
    return sae


def _load_sparsify(path: Path, raw: dict[str, Any], device, dtype) -> SAE:
    # sparsify: encoder = nn.Linear(d_in, num_latents) ([d_sae, d_in] weight), W_dec
    # [d_sae, d_in]; encode subtracts b_dec (unless a transcoder), ReLU, then top-k.
    where = path / SAELENS_CFG
    if raw.get("transcode"):
        raise SAELoadError(f"{where}: a sparsify transcoder, not an autoencoder; not supported")
    if raw.get("activation", "topk") != "topk":
        raise SAELoadError(f"{where}: sparsify activation {raw['activation']!r} is not "
                           f"supported; supported: topk")
    if raw.get("skip_connection"):
        raise SAELoadError(f"{where}: sparsify skip connections are not supported")
    w = _read_safetensors(path / SPARSIFY_WEIGHTS, device)
    try:
        d_in = int(raw["d_in"])
        d_sae = int(raw.get("num_latents") or d_in * raw["expansion_factor"])
        weights = {"W_enc": w.pop("encoder.weight").T, "b_enc": w.pop("encoder.bias"),
                   "W_dec": w.pop("W_dec"), "b_dec": w.pop("b_dec"), **w}
    except KeyError as e:
        raise SAELoadError(f"{path}: sparsify files lack {e}") from None
    # sparsify names hookpoints after the module ("layers.8"), the output of block 8.
    m = re.fullmatch(r"(?:.*\.)?layers[._](\d+)", path.name)
    model_cfg = path.parent / "config.json"
    model = _read_json(model_cfg).get("model") if model_cfg.exists() else None
    cfg = SAEConfig(d_in, d_sae, "topk", k=int(raw["k"]), apply_b_dec_to_input=True,
                    hook_name=f"blocks.{m.group(1)}.hook_resid_post" if m else None,
                    model_name=model, dtype=_dtype_name(weights["W_dec"].dtype),
                    metadata={"format": "sparsify", "sparsify_hookpoint": path.name})
    return _build(cfg, weights, path, device, dtype)


def _load_gemma_scope(path: Path, device, dtype) -> SAE:
    try:
        with np.load(path, allow_pickle=False) as npz:
            # Some copies spell the weights w_enc/w_dec.
            arrays = {re.sub(r"^w_", "W_", k): torch.from_numpy(npz[k].copy()) for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise SAELoadError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    if "W_enc" not in arrays:
        raise SAELoadError(f"{path}: no W_enc array; Gemma Scope files hold "
                           f"W_enc, W_dec, b_enc, b_dec, threshold")
    d_in, d_sae = arrays["W_enc"].shape
    # Gemma Scope folders read layer_<n>/width_<w>/average_l0_<l0>; residual ones hook the
    # output of block n.
    m = re.search(r"layer_(\d+)", str(path))
    resid = m and not re.search(r"mlp|att", str(path))
    cfg = SAEConfig(int(d_in), int(d_sae), "jumprelu", apply_b_dec_to_input=False,
                    hook_name=f"blocks.{m.group(1)}.hook_resid_post" if resid else None,
                    dtype="float32", metadata={"format": "gemma_scope"})
    return _build(cfg, arrays, path, device, dtype)


# ---- the Hub


@cache
def _pretrained_directory() -> dict[str, Any]:
    """sae_lens' release table (release -> repo_id, saes), read without importing sae_lens
    (its import pulls in transformer_lens); empty when it is not installed."""
    from importlib.util import find_spec

    spec = find_spec("sae_lens")
    if spec is None or not spec.submodule_search_locations:
        return {}
    table = Path(list(spec.submodule_search_locations)[0]) / "pretrained_saes.yaml"
    try:
        import yaml

        with open(table) as f:
            return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (ImportError, OSError):
        return {}


def _download(repo_id: str, folder: str | None) -> Path:
    hint = ("pass a local path instead (SAE.load(folder)), or use the default SAE "
            "(saewidgets.load() with no sae argument)")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError
    except ImportError:
        raise SAELoadError(f"offline: huggingface_hub is not installed, so {repo_id} cannot "
                           f"be downloaded; {hint}") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")
    try:
        root = snapshot_download(repo_id, allow_patterns=[f"{folder}/*"] if folder else None,
                                 local_files_only=offline)
    except RepositoryNotFoundError:
        raise SAELoadError(f"{repo_id} was not found on the Hugging Face Hub (or is private "
                           f"or gated); {hint}") from None
    except Exception as e:  # connection errors, offline mode, nothing in the cache
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub could not be reached"
        raise SAELoadError(f"offline: cannot get SAE {repo_id}{'/' + folder if folder else ''}: "
                           f"{why} and it is not in the local cache ({type(e).__name__}); "
                           f"{hint}") from None
    return Path(root) / folder if folder else Path(root)
