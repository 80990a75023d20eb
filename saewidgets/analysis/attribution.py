"""Feature attribution: which SAE features at the hook point pushed one output token up or down.

For a target (a next token's log-probability or logit, or a logit difference between two tokens) the
hook-point activation x at every position is rewritten as

    x' = decode(f) + err,    f = encode(x) (a leaf),    err = x - decode(f) (a leaf)

which changes nothing in the forward pass (x' = x up to an ulp) but gives the target a gradient with
respect to every active feature and to the SAE's error. The attribution of feature i at position p is
``f[p, i] · ∂target/∂f[p, i]`` (activation × gradient) and that of the error ``err[p] · ∂target/∂x[p]``.
Because the decoder is linear, the feature attributions plus the error's add up to the linearised total
``Σ_p ∂target/∂x[p] · (x[p] - b_dec)`` (baseline: the decoder bias, where every feature is zero), exactly
up to float error. One forward and one backward pass per target; several targets share a batch.

The attention sink (the first token, and any position with a norm far above the rest) is left out, as
everywhere in saewidgets: its activation is kept as it is and has no attribution.

In the frames: the SAE error is a row of its own at each position, with ``feature = -1`` (ERROR) and
``activation`` the norm of the error vector. ``ablate_rows`` checks attributions against reality:
it zeroes each feature at its position, re-runs, and reports the real change of the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import torch

from .. import steering as steering_mod
from ..activations import sink_mask
from ..generation import model_lock
from ..hooks import edit
from ..tokens import display_token
from .labels import feature_labels

ERROR = -1                   # the ``feature`` of the SAE error rows
METHODS = ("logprob", "logit")
BATCH = 8                    # targets per forward/backward pass (rows of one batch)
ERROR_LABEL = "SAE error (what the SAE does not explain)"


# ---------------------------------------------------------------------------------------------
# What to attribute


@dataclass(frozen=True)
class Target:
    """One target: the prediction at ``position`` (logits there predict token ``position + 1``)."""

    position: int
    token: int | None            # None: the model's top prediction there
    other: int | None = None     # a logit difference ``token - other``


@dataclass
class TargetAttribution:
    """Everything one target's pass found; ``frame()`` turns it into the public DataFrame."""

    target: Target
    token: int                   # the target token (resolved when it was the top prediction)
    label: str                   # e.g. "' Paris'" or "' Paris' − ' London'"
    method: str
    value: float                 # the target's log-probability / logit / logit difference
    probability: float           # softmax probability of ``token`` at the position
    values: torch.Tensor         # [T, k] active feature values (0 where inactive or out of the context)
    indices: torch.Tensor        # [T, k] their feature ids
    attribution: torch.Tensor    # [T, k] activation × gradient
    error: torch.Tensor          # [T] the error's attribution at each position
    error_norm: torch.Tensor     # [T] |err| at each position
    linearised: float            # Σ_p grad_x[p] · (x[p] - b_dec): what the attributions add up to
    sink: torch.Tensor           # [T] bool

    @property
    def total(self) -> float:
        """Sum of every feature's and the error's attribution (equals ``linearised`` up to float error)."""
        return float(self.attribution.sum() + self.error.sum())

    def per_feature(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(feature ids, attribution summed over positions), every active feature once."""
        ids = self.indices.reshape(-1)
        attr = self.attribution.reshape(-1)
        keep = self.values.reshape(-1) > 0
        features, inverse = ids[keep].unique(return_inverse=True)
        sums = torch.zeros(len(features), dtype=attr.dtype).index_add_(0, inverse, attr[keep])
        return features, sums

    def by_position(self, feature: int) -> torch.Tensor:
        """[T] one feature's attribution at each position."""
        hit = (self.indices == feature) & (self.values > 0)
        return (self.attribution * hit).sum(-1)


def token_id(ctx, spec, what: str = "target") -> int:
    """A token id from an id or a string that is exactly one token; otherwise an error showing the tokens."""
    vocab = len(ctx.tokenizer)
    n_logits = ctx.model.get_output_embeddings().weight.shape[0]
    if isinstance(spec, bool):
        raise TypeError(f"{what} must be a token string or id (got {spec!r}).")
    if hasattr(spec, "__index__") and not isinstance(spec, str):
        spec = int(spec)
        if not 0 <= spec < min(vocab, n_logits):
            raise ValueError(f"{what} token id {spec} is not in the vocabulary (ids 0..{min(vocab, n_logits) - 1}).")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"{what} must be a token string such as ' Paris', a token id, or a pair "
                        f"(' Paris', ' London') for a logit difference (got {type(spec).__name__}).")
    if spec == "":
        raise ValueError(f"{what} is an empty string: pass one token, e.g. ' Paris' (with its leading space).")
    ids = ctx.tokenizer(spec, add_special_tokens=False).input_ids
    if len(ids) == 1 and ids[0] < n_logits:
        return int(ids[0])
    pieces = [display_token(p) for p in ctx.tokenizer.batch_decode([[i] for i in ids])]
    hint = ""
    if not spec.startswith(" ") and len(ctx.tokenizer(" " + spec, add_special_tokens=False).input_ids) == 1:
        hint = f" {' ' + spec!r} (with a leading space) is one token."
    raise ValueError(f"{what} {spec!r} is not one token: it tokenizes as {pieces} ({len(ids)} tokens). "
                     f"Pass a single token, e.g. {pieces[0]!r}, or a token id.{hint}")


def _target_spec(ctx, spec, position: int, default_token: int | None) -> Target:
    if spec is None:
        return Target(position, default_token)
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"a logit-difference target is a pair (token, other), e.g. (' Paris', ' London') "
                             f"(got {len(spec)} items).")
        return Target(position, token_id(ctx, spec[0]), token_id(ctx, spec[1], "the other token"))
    return Target(position, token_id(ctx, spec))


def _as_list(value):
    return list(value) if isinstance(value, (list, range)) else None


def as_reply_ids(ctx, reply) -> list[int]:
    if isinstance(reply, str):
        if not reply:
            raise ValueError("reply is empty: pass the model's reply as text or token ids (lab.generate gives one).")
        return list(ctx.tokenizer(reply, add_special_tokens=False).input_ids)
    ids = [int(i) for i in reply]
    n = ctx.model.get_output_embeddings().weight.shape[0]
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise ValueError(f"reply token ids {bad[:5]} are not in the vocabulary (ids 0..{n - 1}).")
    return ids


def plan(ctx, prompt: str, target=None, *, reply=None, reply_index=None, chat: bool | None = None
         ) -> tuple[list[int], list[Target], int]:
    """The token ids of the context and the targets to attribute; also the number of prompt tokens."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string (got {type(prompt).__name__}).")
    if not prompt.strip():
        raise ValueError("empty prompt: pass some text, e.g. lab.attribute('The capital of France is').")
    if chat is None:
        chat = reply is not None  # a reply is the model's answer to a chat prompt; plain text stays plain
    prompt_ids = ctx.chat_ids(prompt, chat) if chat else ctx.tokenize(prompt)
    n_prompt = len(prompt_ids)
    targets_list = _as_list(target)
    if reply is None:
        if reply_index is not None:
            raise ValueError("reply_index needs reply=: the model's reply as text or token ids.")
        position = n_prompt - 1
        specs = targets_list if targets_list is not None else [target]
        if not specs:
            raise ValueError("target is an empty list: pass at least one target.")
        return prompt_ids, [_target_spec(ctx, s, position, None) for s in specs], n_prompt
    reply_ids = as_reply_ids(ctx, reply)
    ids = prompt_ids + reply_ids
    if reply_index is None:
        raise ValueError(f"pass reply_index=k: which reply token to attribute (0..{len(reply_ids) - 1}, or "
                         f"{len(reply_ids)} for the token after the reply).")
    indices = _as_list(reply_index)
    if indices is not None and targets_list is not None:
        raise ValueError("pass a list for target or for reply_index, not both.")
    out = []
    for k in (indices if indices is not None else [reply_index]):
        if isinstance(k, bool) or not hasattr(k, "__index__") or not 0 <= int(k) <= len(reply_ids):
            raise IndexError(f"reply_index {k!r} is out of range: the reply has {len(reply_ids)} tokens "
                             f"(0..{len(reply_ids) - 1}, or {len(reply_ids)} for the token after the reply).")
        k = int(k)
        position = n_prompt + k - 1
        default = reply_ids[k] if k < len(reply_ids) else None
        for s in (targets_list if targets_list is not None else [target]):
            out.append(_target_spec(ctx, s, position, default))
    if not out:
        raise ValueError("nothing to attribute: pass at least one target or reply_index.")
    return ids, out, n_prompt


# ---------------------------------------------------------------------------------------------
# The pass: one forward and one backward for a batch of targets


def _wide(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (a float64 model keeps its precision: the finite-difference tests rely on it)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _logits_at(model, ids: torch.Tensor, first: int) -> torch.Tensor:
    """Logits of positions ``first..`` only (the vocabulary projection of every position is wasted work)."""
    keep = ids.shape[1] - first
    return model(input_ids=ids, use_cache=False, logits_to_keep=keep).logits


def attribute_targets(ctx, ids: Sequence[int], targets: Sequence[Target], method: str = "logprob",
                      batch: int = BATCH) -> list[TargetAttribution]:
    """Attribute every target on the token ids ``ids``; ``batch`` targets share one forward and backward."""
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; use 'logprob' (log-probability of the target) "
                         "or 'logit'.")
    sae = ctx.need_sae()
    out: list[TargetAttribution] = []
    with model_lock(ctx.model), torch.enable_grad():
        for start in range(0, len(targets), batch):
            out.extend(_pass(ctx, sae, list(ids), list(targets[start:start + batch]), method))
    return out


def _pass(ctx, sae, ids: list[int], targets: list[Target], method: str) -> list[TargetAttribution]:
    last = max(t.position for t in targets)
    first = min(t.position for t in targets)
    seq = torch.tensor([ids[: last + 1]], device=ctx.device)  # later tokens cannot change these targets
    B = len(targets)
    leaves: dict[str, torch.Tensor] = {}

    def replace(hidden: torch.Tensor) -> torch.Tensor:
        x = hidden.detach()
        with torch.no_grad():
            xs = x.to(sae.dtype)
            values, indices = sae.encode_sparse(xs[:1])  # every row holds the same tokens: encode once
            values, indices = values.expand(B, -1, -1), indices.expand(B, -1, -1)
            err = xs - sae.decode_sparse(values, indices)
            sink = sink_mask(x)
        values = values.clone().requires_grad_(True)
        err = err.clone().requires_grad_(True)
        new = sae.decode_sparse(values, indices) + err
        new = torch.where(sink[..., None], xs, new)  # the attention sink stays as it was
        leaves.update(values=values, indices=indices, err=err, x=xs, sink=sink)
        return new.to(hidden.dtype)

    with edit(ctx.model, ctx.hook, replace):
        logits = _wide(_logits_at(ctx.model, seq.expand(B, -1), first))  # [B, last - first + 1, V]
    if "values" not in leaves:
        raise RuntimeError(f"the forward pass never reached {ctx.hook.name}.")
    rows = torch.arange(B, device=logits.device)
    at = logits[rows, torch.tensor([t.position - first for t in targets], device=logits.device)]  # [B, V]
    logprobs = at.log_softmax(-1)
    tokens = [t.token if t.token is not None else int(at[b].argmax()) for b, t in enumerate(targets)]
    tok = torch.tensor(tokens, device=at.device)
    scores = logprobs if method == "logprob" else at
    value = scores[rows, tok]
    for b, t in enumerate(targets):
        if t.other is not None:  # a logit difference (equal to the log-probability difference)
            value = value.clone()
            value[b] = at[b, t.token] - at[b, t.other]
    g_values, g_err = torch.autograd.grad(value.sum(), [leaves["values"], leaves["err"]])
    value = value.detach()
    with torch.no_grad():
        values, err, xs, sink = leaves["values"].detach(), leaves["err"].detach(), leaves["x"], leaves["sink"]
        attr = _wide(values * g_values)
        err_attr = _wide((err * g_err).sum(-1))
        linear = _wide(((xs - sae.b_dec) * g_err).sum(-1))  # g_err is ∂target/∂x (x' = decode(f) + err)
        probs = logprobs.exp()
    results = []
    for b, t in enumerate(targets):
        context = torch.arange(values.shape[1], device=values.device) <= t.position
        keep = (context & ~sink[b])[:, None]
        results.append(TargetAttribution(
            target=t, token=tokens[b], label=_label(ctx, tokens[b], t.other), method=method,
            value=float(value[b]), probability=float(probs[b, tokens[b]]),
            values=(values[b] * keep).cpu(), indices=leaves["indices"][b].cpu(),
            attribution=(attr[b] * keep).cpu(), error=(err_attr[b] * keep[:, 0]).cpu(),
            error_norm=(_wide(err[b]).norm(dim=-1) * keep[:, 0]).cpu(),
            linearised=float((linear[b] * keep[:, 0]).sum()), sink=sink[b].cpu()))
    return results


def _label(ctx, token: int, other: int | None) -> str:
    text = repr(ctx.tokenizer.decode([token]))
    return text if other is None else f"{text} − {ctx.tokenizer.decode([other])!r}"


# ---------------------------------------------------------------------------------------------
# The public call


def _positions(positions, n: int) -> set[int] | None:
    if positions is None:
        return None
    items = [positions] if hasattr(positions, "__index__") else list(positions)
    out = set()
    for p in items:
        if isinstance(p, bool) or not hasattr(p, "__index__"):
            raise TypeError(f"positions must be token positions (integers), got {p!r}.")
        q = int(p) + n if int(p) < 0 else int(p)
        if not 0 <= q < n:
            raise IndexError(f"position {p} is out of range: the text has {n} tokens (positions 0..{n - 1}; "
                             "lab.encode(text).tokens lists them).")
        if q == 0:
            raise ValueError("position 0 is the attention sink (the first token), which is left out of attribution; "
                             f"use positions 1..{n - 1}.")
        out.add(q)
    return out


def attribute(ctx, prompt: str, target=None, *, method: str = "logprob", positions=None, reply=None,
              reply_index=None, top: int | None = None, chat: bool | None = None) -> pd.DataFrame:
    """Which SAE features pushed the target up or down: one row per (position, feature), plus the error.

    ``target``: None (the model's top next-token prediction), a next token (a string that is one token, such
    as ``" Paris"``, or a token id), a pair ``(" Paris", " London")`` for the logit difference, or a list of
    these (batched; the frame gets a ``target`` column). ``reply`` (text or token ids) with ``reply_index=k``:
    attribute the reply's k-th token given the prompt (in the chat template unless ``chat=False``) and the
    reply before it; ``k = len(reply)`` is the token after the reply; a list of k batches them. ``method``:
    ``"logprob"`` (log-probability of the target) or ``"logit"``. ``positions``: keep only these token
    positions. ``top``: keep the ``top`` rows with the largest ``|attribution|`` (per target).

    Columns: position, token, feature (``-1`` for the SAE error), activation (the error's norm on its rows),
    attribution, explanation. Sorted by ``|attribution|``. ``frame.attrs`` holds the target, its value and
    probability, the method, the sum of all attributions (``total``) and the linearised total it equals.
    """
    ids, targets, _ = plan(ctx, prompt, target, reply=reply, reply_index=reply_index, chat=chat)
    keep = _positions(positions, len(ids))
    results = attribute_targets(ctx, ids, targets, method)
    pieces = ctx.tokenizer.batch_decode([[i] for i in ids])
    many = len(results) > 1
    frames = [frame(ctx, r, pieces, keep=keep, top=top) for r in results]
    if not many:
        frames[0].attrs["ids"] = list(ids)
        return frames[0]
    for f, r in zip(frames, results):
        f.insert(0, "target", r.label)
        f.insert(1, "target_position", r.target.position)
    out = pd.concat(frames, ignore_index=True)
    out.attrs = {"targets": [f.attrs for f in frames], "method": method, "ids": list(ids)}
    return out


def frame(ctx, r: TargetAttribution, pieces: list[str], *, keep: set[int] | None = None,
          top: int | None = None, explain: bool = True) -> pd.DataFrame:
    """The public DataFrame of one target's attribution (see ``attribute``)."""
    T = r.values.shape[0]
    pos = torch.arange(T)[:, None].expand_as(r.values)
    active = r.values > 0
    if keep is not None:
        allowed = torch.zeros(T, dtype=torch.bool)
        allowed[list(keep)] = True
        active &= allowed[:, None]
    ctx_pos = (torch.arange(T) <= r.target.position) & ~r.sink
    if keep is not None:
        ctx_pos &= allowed
    err_pos = torch.nonzero(ctx_pos).flatten()
    feat = pd.DataFrame({"position": pos[active].tolist(), "feature": r.indices[active].tolist(),
                         "activation": r.values[active].tolist(), "attribution": r.attribution[active].tolist()})
    err = pd.DataFrame({"position": err_pos.tolist(), "feature": ERROR,
                        "activation": r.error_norm[err_pos].tolist(), "attribution": r.error[err_pos].tolist()})
    df = pd.concat([feat, err], ignore_index=True)
    df = df.iloc[df.attribution.abs().sort_values(ascending=False, kind="stable").index].reset_index(drop=True)
    if top is not None:
        df = df.head(int(top)).reset_index(drop=True)
    df.insert(1, "token", [display_token(pieces[p]) for p in df.position])
    df["feature"] = df.feature.astype(int)
    if explain:
        real = sorted({int(f) for f in df.feature if f != ERROR})
        labels = dict(zip(real, feature_labels(ctx, real)))
        df["explanation"] = [ERROR_LABEL if f == ERROR else labels.get(int(f), "") for f in df.feature]
    df.attrs = {"target": r.label, "target_token": r.token, "target_position": r.target.position,
                "method": r.method, "value": r.value, "probability": r.probability, "total": r.total,
                "linearised": r.linearised, "error": float(r.error.sum())}
    return df


# ---------------------------------------------------------------------------------------------
# Checked against reality: zero a feature at its position and re-run


@torch.no_grad()
def target_values(ctx, ids: Sequence[int], target: Target, token: int, method: str,
                  deltas: torch.Tensor | None = None, batch: int = 16) -> torch.Tensor:
    """The target's value on ``ids``, once per row of ``deltas`` ([n, T, d_model] added at the hook point);
    without deltas, the plain value (one row)."""
    seq = torch.tensor([list(ids[: target.position + 1])], device=ctx.device)
    rows = [None] if deltas is None else list(deltas.split(batch))
    out = []
    with model_lock(ctx.model):
        for d in rows:
            n = 1 if d is None else d.shape[0]
            hook = (lambda h, d=d: h + d[:, : h.shape[1]].to(h.device, h.dtype)) if d is not None else (lambda h: None)
            with edit(ctx.model, ctx.hook, hook):
                at = ctx.model(input_ids=seq.expand(n, -1), use_cache=False, logits_to_keep=1).logits[:, -1]
            at = _wide(at)
            if target.other is not None:
                out.append(at[:, token] - at[:, target.other])
            else:
                out.append((at.log_softmax(-1) if method == "logprob" else at)[:, token])
    return torch.cat(out)


def ablate_rows(ctx, r: TargetAttribution, ids: Sequence[int], n: int = 50) -> pd.DataFrame:
    """The ``n`` feature rows with the largest |attribution|, each with the real change of the target when
    that feature alone is zeroed at its position (the SAE error and everything else kept): column
    ``ablation`` = value after − value before, which the attribution predicts as ``-attribution``."""
    sae = ctx.need_sae()
    flat = r.attribution.reshape(-1).abs() * (r.values.reshape(-1) > 0)
    n = int(min(n, int((flat > 0).sum())))
    order = flat.topk(n).indices if n else torch.zeros(0, dtype=torch.long)
    k = r.values.shape[1]
    pos, slot = order // k, order % k
    T = r.target.position + 1
    deltas = torch.zeros(n, T, sae.d_in, dtype=sae.dtype, device=sae.device)
    with torch.no_grad():
        for row, (p, s) in enumerate(zip(pos.tolist(), slot.tolist())):
            v = r.values[p, s].to(sae.device, sae.dtype).reshape(1, 1)
            i = r.indices[p, s].to(sae.device).reshape(1, 1)
            deltas[row, p] = -(sae.decode_sparse(v, i)[0] - sae.b_dec)  # this feature's share of x, removed
    before = float(target_values(ctx, ids, r.target, r.token, r.method)[0])
    after = target_values(ctx, ids, r.target, r.token, r.method, deltas) if n else torch.zeros(0)
    return pd.DataFrame({"position": pos.tolist(), "feature": r.indices[pos, slot].tolist(),
                         "activation": r.values[pos, slot].tolist(), "attribution": r.attribution[pos, slot].tolist(),
                         "ablation": (after - before).tolist()})


@torch.no_grad()
def intervened(ctx, ids: Sequence[int], target: Target, token: int | None, steer: dict, method: str) -> dict:
    """The target token's probability before and after steering (``steering`` methods: ablate, clamp, ...)
    at every position of the context but the attention sink, and the top prediction after."""
    seq = torch.tensor([list(ids[: target.position + 1])], device=ctx.device)
    steering_mod.check_steer(steer, method, ctx.need_sae().d_sae)
    with model_lock(ctx.model):
        plain = ctx.model(input_ids=seq, use_cache=False, logits_to_keep=1).logits[0, -1].float()
        with ctx.steering(steer, method):
            after = ctx.model(input_ids=seq, use_cache=False, logits_to_keep=1).logits[0, -1].float()
    token = int(plain.argmax()) if token is None else int(token)
    p0, p1 = plain.softmax(-1), after.softmax(-1)
    top = int(p1.argmax())
    return {"token": ctx.tokenizer.decode([token]), "before": float(p0[token]), "after": float(p1[token]),
            "logprob_before": float(p0[token].log()), "logprob_after": float(p1[token].log()),
            "top_after": ctx.tokenizer.decode([top]), "top_after_probability": float(p1[top])}


@torch.no_grad()
def reply_ids(ctx, prompt_ids: Sequence[int], max_new_tokens: int = 24) -> list[int]:
    """The model's greedy reply to ``prompt_ids`` as token ids (its end token kept: why it stopped is a
    target too)."""
    seq = torch.tensor([list(prompt_ids)], device=ctx.device)
    tok = ctx.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with model_lock(ctx.model):
        out = ctx.model.generate(seq, attention_mask=torch.ones_like(seq), max_new_tokens=max_new_tokens,
                                 do_sample=False, top_p=None, top_k=None, pad_token_id=pad)
    return out[0, seq.shape[1]:].tolist()
