"""Shared fixtures: tiny randomly initialised models of several families (no downloads) and their Labs."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

D_MODEL = 32
N_LAYERS = 4


def byte_tokenizer():
    """A byte-level tokenizer (256 bytes + 3 specials) with a chat template; no merges, no files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = ByteLevel.alphabet()
    vocab = {t: i for i, t in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>",
        unk_token="<|endoftext|>", model_max_length=256,
        chat_template="{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    )


def tiny_config(family: str):
    import transformers as tf

    vocab = 3 + 256
    common = dict(vocab_size=vocab, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    if family == "llama":
        return tf.LlamaConfig(hidden_size=D_MODEL, intermediate_size=64, num_hidden_layers=N_LAYERS,
                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **common)
    if family == "qwen2":
        return tf.Qwen2Config(hidden_size=D_MODEL, intermediate_size=64, num_hidden_layers=N_LAYERS,
                              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **common)
    if family == "gemma2":
        return tf.Gemma2Config(hidden_size=D_MODEL, intermediate_size=64, num_hidden_layers=N_LAYERS,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                               max_position_embeddings=256, **common)
    if family == "gpt2":
        return tf.GPT2Config(n_embd=D_MODEL, n_layer=N_LAYERS, n_head=4, n_positions=256, **common)
    raise ValueError(family)


def save_tiny_model(path, family: str = "llama", seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(family))
    model.save_pretrained(path)
    byte_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="session", params=["llama", "gpt2", "qwen2", "gemma2"])
def family_model_dir(request, tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp(f"tiny-{request.param}"), request.param)


def random_sae(d_in=D_MODEL, d_sae=128, k=8, layer=2, seed=0, with_stats=True):
    from saewidgets.sae import SAE

    sae = SAE.create(d_in, d_sae, "topk", k=k, hook_name=f"blocks.{layer}.hook_resid_post", model_name="tiny",
                     seed=seed)
    with torch.no_grad():
        sae.b_enc.fill_(0.1)
    if with_stats:
        sae.stats = {"max_activation": torch.full((d_sae,), 2.0), "frequency": torch.full((d_sae,), 0.05),
                     "mean_activation": torch.ones(d_sae)}
    return sae


@pytest.fixture
def tiny_lab(tiny_model_dir):
    import saewidgets as sw

    return sw.load(model=str(tiny_model_dir), sae=random_sae(), device="cpu")


@pytest.fixture(scope="session")
def default_lab():
    """The real embedded default (SmolLM2-135M-Instruct + the shipped SAE); loaded once per session."""
    import saewidgets as sw

    return sw.load()


@pytest.fixture(autouse=True, scope="session")
def fresh_artefact_cache(tmp_path_factory):
    """Artefacts computed by one test run never reach the next: the feature store's user cache is a temporary
    folder for the session (the model and corpus caches stay where setup put them)."""
    from saewidgets.store import FeatureStore

    root = tmp_path_factory.mktemp("store-cache")
    original = FeatureStore.cache_folder
    session_cache = os.environ.get("SAEWIDGETS_CACHE")

    def cache_folder(self):
        if os.environ.get("SAEWIDGETS_CACHE") != session_cache:  # a test chose its own cache: honour it
            return original(self)
        return _mkdir(root / self.fingerprint)

    FeatureStore.cache_folder = cache_folder
    yield root
    FeatureStore.cache_folder = original


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def no_hooks_left(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
