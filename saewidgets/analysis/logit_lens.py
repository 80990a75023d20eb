"""The logit lens: which tokens a feature's decoder direction promotes, read through the model's own final norm.

``feature_vectors`` gives every feature's direction as the logit lens reads it; the vocabulary
explanations and the word search score words against these vectors, so all three agree.
"""

from __future__ import annotations

import pandas as pd
import torch


def final_norm(model):
    """The norm before the unembedding (``model.norm`` for Llama/Qwen/Gemma, ``ln_f`` for GPT-2)."""
    base = getattr(model, "base_model", model)
    for name in ("norm", "ln_f", "final_layernorm", "final_layer_norm", "final_norm"):
        module = getattr(base, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    return None


@torch.no_grad()
def logit_lens(model, directions: torch.Tensor, k: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens each direction promotes most and least: ``(top_values, top_ids, bottom_values, bottom_ids)``.

    The choice: ``lm_head(final_norm(W_dec[f]) - final_norm(0))``, i.e. the decoder row read as if it
    were the whole residual stream. Through the model's own norm module the gain (Gemma's 1 + w too) and
    LayerNorm's centring apply for any family, and the ranking equals that of W_dec[f]·diag(g)·W_U
    (TransformerLens' folded unembedding). Plain W_dec[f] @ W_U would ignore the gain, which weights
    dimensions very unevenly. Subtracting final_norm(0) drops LayerNorm's bias: a logit shift shared by
    every feature, which would otherwise put the same tokens at the top of every list. The norm's 1/rms
    is one positive factor per feature, so it changes the scale of the logits, not their order.
    """
    head = model.get_output_embeddings()
    norm = final_norm(model)
    x = directions.to(head.weight.device, head.weight.dtype)[:, None, :]
    if norm is not None:
        x = norm(x) - norm(torch.zeros_like(x[:1]))
    logits = head(x)[:, 0].float()
    top = logits.topk(k, dim=-1)
    bottom = logits.topk(k, dim=-1, largest=False)
    return top.values, top.indices, bottom.values, bottom.indices


def logit_lens_frame(ctx, feature: int, k: int = 10) -> pd.DataFrame:
    """One feature's most promoted and most suppressed tokens: direction, rank, token, logit."""
    tv, ti, bv, bi = logit_lens(ctx.model, ctx.sae.W_dec[feature][None].detach(), k)
    rows = [("positive", r + 1, ctx.tokenizer.decode([int(i)]), float(v)) for r, (v, i) in enumerate(zip(tv[0], ti[0]))]
    rows += [("negative", r + 1, ctx.tokenizer.decode([int(i)]), float(v)) for r, (v, i) in enumerate(zip(bv[0], bi[0]))]
    return pd.DataFrame(rows, columns=["direction", "rank", "token", "logit"])



@torch.no_grad()
def feature_vectors(ctx, chunk: int = 4096) -> torch.Tensor:
    """``[d_sae, d_model]`` float32: decoder rows through the final norm, as the logit lens reads them.

    ``final_norm(W_dec[f]) - final_norm(0)`` (see ``logit_lens``): the row read as if it were the whole
    residual stream, so ``C @ W_U.T`` are the logit-lens logits. Memoised in the SAE's store.
    """
    def build():
        sae, model = ctx.sae, ctx.model
        norm = final_norm(model)
        head = model.get_output_embeddings().weight
        out = []
        for lo in range(0, sae.d_sae, chunk):
            x = sae.W_dec[lo:lo + chunk].detach().to(head.device, head.dtype)
            if norm is not None:
                x = norm(x[:, None])[:, 0] - norm(torch.zeros_like(x[:1, None]))[:, 0]
            out.append(x.float())
        return torch.cat(out)

    return ctx.store.derived("feature_vectors", build, id(ctx.model))
