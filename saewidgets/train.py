"""Train a Top-K SAE (Gao et al. 2024) on residual-stream activations, fast on a CPU.

The recipe: TopK activation, AuxK loss on dead latents (on their raw pre-activations), unit-norm decoder
rows (with the gradient component along each row removed), encoder initialised as the decoder's
transpose, ``b_dec`` from the data mean, Adam with the learning rate scaled by ``1/sqrt(d_sae / 2**14)``.

Speed: the only dense product is the encoder's ``[batch, d_in] x [d_in, d_sae]``, used just to *select*
the top k latents, so it runs in bfloat16 where the CPU supports it. The selected values are recomputed
exactly in fp32, decoding is a gather of k rows (``embedding_bag``), and the backward pass touches only
the k selected columns of the encoder. No ``[batch, d_sae]`` tensor is ever differentiated.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import activations as acts_mod
from . import distributed
from .hooks import HookPoint
from .sae import SAE
from .topk_screen import native_on_cpu
from .corpus import token_windows


@dataclass
class TrainConfig:
    d_sae: int = 4096
    k: int = 32
    tokens: int = 300_000          # training tokens seen (epochs over the cache are allowed)
    batch_size: int = 1024
    lr: float | None = None        # default: 3e-3 / sqrt(d_sae / 4096) (Gao et al.'s scaling; tuned for short runs)
    lr_decay_fraction: float = 0.2  # linear decay to zero over the last part of training
    auxk_alpha: float = 1 / 32
    k_aux: int | None = None       # default: d_in // 2
    dead_tokens: int | None = None  # a latent is dead after this many tokens without firing
    seed: int = 0
    log_every: int = 10
    select_dtype: str = "bfloat16"  # dtype of the selection matmul; "float32" to disable
    resample_every: int | None = None  # tokens between resamplings of dead latents (None: never)
    resample_until: float = 0.7     # no resampling after this fraction of the run, so latents can settle
    auxk_relu: bool = False         # ReLU on the dead latents' AuxK values (stages 1-2 of the default SAE)

    def check(self, d_in: int) -> None:
        if not 1 <= self.k < self.d_sae:
            raise ValueError(f"k must be between 1 and d_sae - 1 (got k={self.k}, d_sae={self.d_sae}).")
        if not d_in <= self.d_sae <= 2**21:
            raise ValueError(f"d_sae must be between the model width {d_in} and 2,097,152 (got {self.d_sae}).")
        if self.tokens < self.batch_size:
            raise ValueError(f"tokens ({self.tokens}) must be at least one batch ({self.batch_size}).")


class _TopKSelect(torch.autograd.Function):
    """Top-k of ``(acts - b_dec) @ W_enc + b_enc`` per row (plus top-k_aux among dead latents), sparse backward.

    The activations are data (no gradient), so the backward needs only W_enc, b_enc and b_dec.
    """

    @staticmethod
    def forward(ctx, acts, b_dec, W_enc, b_enc, k, k_aux, dead, select_dtype):
        with torch.no_grad():
            x = acts - b_dec
            pre = torch.addmm(b_enc.to(select_dtype), x.to(select_dtype), W_enc.to(select_dtype))
            idx = pre.topk(k, dim=-1, sorted=False).indices
            aux_idx = None
            if k_aux:
                dead_idx = dead.nonzero().squeeze(1)  # few columns: select among them only
                aux_idx = dead_idx[pre.index_select(1, dead_idx).topk(k_aux, dim=-1, sorted=False).indices]
            all_idx = idx if aux_idx is None else torch.cat([idx, aux_idx], dim=1)
            # Values come from the selection matmul: bf16 rounding (~0.4%) costs nothing measurable in FVU,
            # and the backward below is exact for whatever values were selected.
            vals = pre.gather(1, all_idx).float()
            del pre
        ctx.save_for_backward(x, W_enc, all_idx)
        ctx.mark_non_differentiable(all_idx)
        return vals, all_idx

    @staticmethod
    def backward(ctx, g_vals, _g_idx):
        x, W_enc, idx = ctx.saved_tensors
        batch, kk = idx.shape
        rows = torch.arange(batch, device=x.device).repeat_interleave(kk)
        flat = idx.reshape(-1)
        g = g_vals.detach().reshape(-1).float()
        # The gradient w.r.t. the pre-activations is non-zero only at the selected (row, latent) pairs.
        g_pre_t = torch.sparse_coo_tensor(torch.stack([flat, rows]), g, (W_enc.shape[1], batch),
                                          check_invariants=False).coalesce()
        g_W = torch.sparse.mm(g_pre_t, x).t()
        g_b = torch.zeros(W_enc.shape[1], device=x.device).index_add_(0, flat, g)
        # b_dec enters every row as -b_dec, so its gradient is -sum_b (g_b W_enc^T) = -W_enc g_b.
        g_b_dec = -(W_enc @ g_b) if ctx.needs_input_grad[1] else None
        return None, g_b_dec, g_W, g_b, None, None, None, None


class TopKTrainer:
    """Holds the SAE parameters and Adam state; ``step(x)`` trains on one batch."""

    def __init__(self, d_in: int, cfg: TrainConfig, data_mean: torch.Tensor, device="cpu"):
        cfg.check(d_in)
        self.cfg, self.d_in = cfg, d_in
        g = torch.Generator().manual_seed(cfg.seed)
        W_dec = torch.randn(cfg.d_sae, d_in, generator=g)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        self.W_dec = W_dec.to(device).requires_grad_()
        self.W_enc = W_dec.detach().t().contiguous().to(device).requires_grad_()
        self.b_enc = torch.zeros(cfg.d_sae, device=device, requires_grad=True)
        self.b_dec = data_mean.float().clone().to(device).requires_grad_()
        self.lr = cfg.lr or 3e-3 / math.sqrt(cfg.d_sae / 4096)
        self.opt = torch.optim.Adam([self.W_enc, self.b_enc, self.W_dec, self.b_dec], lr=self.lr, eps=6.25e-10)
        self.k_aux = cfg.k_aux or d_in // 2
        self.since_fired = torch.zeros(cfg.d_sae, dtype=torch.long, device=device)
        # Tokens seen when each latent last fired; unlike since_fired, resampling never resets it.
        self.last_fired = torch.zeros(cfg.d_sae, dtype=torch.long, device=device)
        self.dead_tokens = cfg.dead_tokens or min(1_000_000, max(cfg.tokens // 10, 10 * cfg.batch_size))
        self.was_dead = torch.zeros(cfg.d_sae, dtype=torch.bool, device=device)
        self.tokens_seen = 0
        self.last_resample = 0
        self.skipped_steps = 0
        self.select_dtype = _select_dtype(cfg.select_dtype, device)

    def step(self, x: torch.Tensor) -> dict:
        """Train on one batch ``x``. Under ``torchrun`` (``distributed.active()``) ``x`` is this rank's share
        of the global batch: see ``_step_shared``."""
        if distributed.active():
            return self._step_shared(x)
        cfg = self.cfg
        self._schedule_lr()
        if self._skip_bad_batch(not torch.isfinite(x).all()):
            return {}
        dead, k_aux, vals, idx, top_vals, top_idx, err = self._encode(x)
        total_var = (x - x.mean(0)).pow(2).sum()
        fvu = err.pow(2).sum() / total_var
        loss = fvu
        aux = torch.zeros(())
        if k_aux:
            aux_vals = F.relu(vals[:, cfg.k:]) if cfg.auxk_relu else vals[:, cfg.k:]
            aux = _aux_loss(err.detach(), aux_vals, idx[:, cfg.k:], self.W_dec)
            loss = loss + cfg.auxk_alpha * aux.nan_to_num(0.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            # Keep decoder rows unit-norm: drop the gradient along each row, then renormalise.
            self.W_dec.grad -= (self.W_dec.grad * self.W_dec).sum(1, keepdim=True) * self.W_dec
            self.opt.step()
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)
            fired = torch.zeros_like(self.since_fired, dtype=torch.bool)
            fired[top_idx[top_vals > 0]] = True
            self.since_fired += len(x)
            self.since_fired[fired] = 0
        self.tokens_seen += len(x)
        self.last_fired[fired] = self.tokens_seen
        return {"loss": loss.item(), "fvu": fvu.item(), "aux_loss": aux.item(),
                "l0": float((top_vals > 0).sum(1).float().mean()),
                "dead_fraction": float(dead.float().mean())}

    def _encode(self, x: torch.Tensor):
        """Dead latents (their Adam moments reset when newly dead), the Top-K (+ AuxK) selection and the error."""
        cfg = self.cfg
        dead = self.since_fired > self.dead_tokens
        self._reset_adam(dead & ~self.was_dead)
        self.was_dead = dead
        k_aux = min(self.k_aux, int(dead.sum())) if self.tokens_seen > self.dead_tokens else 0
        vals, idx = _TopKSelect.apply(x, self.b_dec, self.W_enc, self.b_enc, cfg.k, k_aux, dead, self.select_dtype)
        top_vals, top_idx = F.relu(vals[:, :cfg.k]), idx[:, :cfg.k]
        recon = F.embedding_bag(top_idx, self.W_dec, per_sample_weights=top_vals, mode="sum") + self.b_dec
        return dead, k_aux, vals, idx, top_vals, top_idx, x - recon

    def _schedule_lr(self) -> None:
        """Linear decay over the last ``lr_decay_fraction`` of the run."""
        cfg = self.cfg
        progress = self.tokens_seen / cfg.tokens
        decay_start = 1 - cfg.lr_decay_fraction
        scale = 1.0 if progress < decay_start else max(0.0, (1 - progress) / cfg.lr_decay_fraction)
        for group in self.opt.param_groups:
            group["lr"] = self.lr * scale

    def _skip_bad_batch(self, bad) -> bool:
        """True for a batch holding NaN/inf activations (skipped); more than 10 of them is an error."""
        if not bad:
            return False
        self.skipped_steps += 1
        if self.skipped_steps > 10:
            raise FloatingPointError("more than 10 batches held NaN/inf activations; check the model and data.")
        return True

    def _step_shared(self, x: torch.Tensor) -> dict:
        """``step`` for one rank of several, each holding some rows of the same global batch.

        The same mathematics as one process on the whole batch: the losses' normalisers (the batch's total
        variance) are computed over the global batch (all-reduced mean, then sum of squares), each rank's loss is
        its rows' share of the global loss, and the gradients are summed over the ranks (all-reduce) before one
        identical Adam step everywhere, so the parameters stay the same on every rank. Which latents fired is
        all-reduced too (dead-latent counts), and so are the metrics.
        """
        cfg = self.cfg
        n = distributed.all_reduce_number(len(x))
        self._schedule_lr()
        if self._skip_bad_batch(distributed.all_reduce_number(int(not torch.isfinite(x).all()))):
            return {}
        dead, k_aux, vals, idx, top_vals, top_idx, err = self._encode(x)
        fvu = err.pow(2).sum() / _global_variance(x, n)
        loss = fvu
        aux = torch.zeros((), device=x.device)
        if k_aux:
            aux_vals = F.relu(vals[:, cfg.k:]) if cfg.auxk_relu else vals[:, cfg.k:]
            e = err.detach()
            recon_aux = F.embedding_bag(idx[:, cfg.k:], self.W_dec, per_sample_weights=aux_vals, mode="sum")
            aux = (e - recon_aux).pow(2).sum() / _global_variance(e, n)
            loss = loss + cfg.auxk_alpha * aux.nan_to_num(0.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for param in (self.W_enc, self.b_enc, self.W_dec, self.b_dec):
                distributed.all_reduce_(param.grad)
            self.W_dec.grad -= (self.W_dec.grad * self.W_dec).sum(1, keepdim=True) * self.W_dec
            self.opt.step()
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)
            fired = torch.zeros_like(self.since_fired, dtype=torch.bool)
            fired[top_idx[top_vals > 0]] = True
            fired = distributed.all_reduce_(fired.to(torch.int32), "max").bool()
            self.since_fired += n
            self.since_fired[fired] = 0
            metrics = torch.tensor([loss.item(), fvu.item(), aux.item(), float((top_vals > 0).sum())],
                                   dtype=torch.float64)
            distributed.all_reduce_(metrics)
        self.tokens_seen += n
        self.last_fired[fired] = self.tokens_seen
        loss_v, fvu_v, aux_v, active = metrics.tolist()
        return {"loss": loss_v, "fvu": fvu_v, "aux_loss": aux_v, "l0": active / n,
                "dead_fraction": float(dead.float().mean())}

    @torch.no_grad()
    def broadcast_parameters(self) -> None:
        """Rank 0's parameters and latent counts on every rank (after a random resampling)."""
        for t in (self.W_enc, self.b_enc, self.W_dec, self.b_dec, self.since_fired, self.was_dead):
            distributed.broadcast_(t)

    @torch.no_grad()
    def _reset_adam(self, latents: torch.Tensor) -> None:
        """Forget the Adam moments of latents that just died.

        Their second moments still hold the large gradients of their live days, which would shrink the
        small AuxK gradients to nothing; fresh moments let AuxK move them at the full learning rate.
        """
        if not latents.any():
            return
        for param, column_wise in ((self.W_enc, True), (self.b_enc, False), (self.W_dec, False)):
            for moment in ("exp_avg", "exp_avg_sq"):
                state = self.opt.state.get(param, {}).get(moment)
                if state is not None:
                    if column_wise:
                        state[:, latents] = 0
                    else:
                        state[latents] = 0

    @torch.no_grad()
    def resample(self, pool: torch.Tensor) -> int:
        """Re-initialise dead latents towards inputs the SAE reconstructs worst (Bricken et al. 2023).

        Each dead latent gets the direction of one residual ``x - x_hat`` of ``pool`` (drawn with
        probability proportional to its squared norm, without replacement) as its decoder row and
        encoder column (the encoder at 0.2x the mean live encoder norm, as Bricken et al. do), fresh Adam
        moments, and a fresh count of tokens since it fired. Returns how many latents were resampled.
        """
        dead = (self.since_fired > self.dead_tokens).nonzero().squeeze(1)
        if len(dead) == 0:
            return 0
        x = pool.float() - self.b_dec
        pre = torch.addmm(self.b_enc, x, self.W_enc)
        top = pre.topk(self.cfg.k, dim=-1)
        recon = F.embedding_bag(top.indices, self.W_dec, per_sample_weights=F.relu(top.values), mode="sum")
        err = x - recon
        weight = err.pow(2).sum(1)
        picks = torch.multinomial(weight, min(len(dead), len(pool)), replacement=False)
        dead = dead[:len(picks)]
        direction = err[picks] / err[picks].norm(dim=1, keepdim=True).clamp_min(1e-8)
        live = torch.ones_like(self.since_fired, dtype=torch.bool)
        live[dead] = False
        enc_norm = self.W_enc[:, live].norm(dim=0).mean() if live.any() else torch.tensor(1.0)
        self.W_dec[dead] = direction
        self.W_enc[:, dead] = (direction * 0.2 * enc_norm).t()
        self.b_enc[dead] = 0
        mask = torch.zeros_like(self.since_fired, dtype=torch.bool)
        mask[dead] = True
        self._reset_adam(mask)
        self.since_fired[dead] = 0
        self.was_dead[dead] = False
        return len(dead)

    def to_sae(self, hook_name: str, model_name: str, metadata: dict | None = None, dtype=torch.float32) -> SAE:
        sae = SAE.create(self.d_in, self.cfg.d_sae, architecture="topk", k=self.cfg.k, hook_name=hook_name,
                         model_name=model_name, apply_b_dec_to_input=True,
                         **{k: v for k, v in (metadata or {}).items() if k not in ("hook_name", "model_name")})
        with torch.no_grad():
            sae.W_enc.copy_(self.W_enc)
            sae.b_enc.copy_(self.b_enc)
            sae.W_dec.copy_(self.W_dec)
            sae.b_dec.copy_(self.b_dec)
        return sae.to(dtype) if dtype != torch.float32 else sae

    def state_dict(self) -> dict:
        return {"W_enc": self.W_enc.detach(), "b_enc": self.b_enc.detach(), "W_dec": self.W_dec.detach(),
                "b_dec": self.b_dec.detach(), "opt": self.opt.state_dict(), "since_fired": self.since_fired,
                "tokens_seen": self.tokens_seen, "skipped_steps": self.skipped_steps,
                "last_resample": self.last_resample, "last_fired": self.last_fired}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
                getattr(self, name).copy_(state[name])
        self.opt.load_state_dict(state["opt"])
        self.since_fired = state["since_fired"]
        self.tokens_seen, self.skipped_steps = state["tokens_seen"], state["skipped_steps"]
        self.last_resample = state.get("last_resample", 0)
        self.last_fired = state.get("last_fired", (self.tokens_seen - self.since_fired).clamp_min(0))

    def dead_fraction(self, window: int) -> float:
        """Share of latents that have not fired in the last ``window`` training tokens (resampling aside)."""
        return float((self.tokens_seen - self.last_fired >= window).float().mean())

    def resample_due(self) -> bool:
        cfg = self.cfg
        return (cfg.resample_every is not None and self.tokens_seen >= self.dead_tokens
                and self.tokens_seen - self.last_resample >= cfg.resample_every
                and self.tokens_seen < cfg.resample_until * cfg.tokens)


def _to_device(rows: np.ndarray, device) -> torch.Tensor:
    """A batch on ``device``; to a GPU through pinned memory, so the copy overlaps the previous step."""
    x = torch.from_numpy(rows)
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x


def _global_variance(x: torch.Tensor, n: int) -> torch.Tensor:
    """``((x - x.mean(0))**2).sum()`` over the rows of every rank's ``x`` (``n`` rows in all); no gradient."""
    with torch.no_grad():
        mean = distributed.all_reduce_(x.detach().sum(0)) / n
        return distributed.all_reduce_((x.detach() - mean).pow(2).sum())


def _aux_loss(e: torch.Tensor, vals: torch.Tensor, idx: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    """AuxK (Gao et al.): the top-k_aux dead latents learn to explain the residual ``e`` the live ones miss.

    The dead latents' pre-activations are used as they are, without the ReLU: a dead latent's
    pre-activations sink far below zero (median -11 against a firing threshold of +3.5 in the default
    SAE), where a ReLU would zero both its output and its gradient. On the raw values every dead latent
    gets a gradient; this revived all 1,652 dead latents of the default SAE within 25k tokens.
    (``TrainConfig.auxk_relu`` restores the ReLU.)
    """
    recon = F.embedding_bag(idx, W_dec, per_sample_weights=vals, mode="sum")
    return (e - recon).pow(2).sum() / (e - e.mean(0)).pow(2).sum()


def _select_dtype(name: str, device="cpu") -> torch.dtype:
    if name == "bfloat16" and torch.device(device).type == "cpu" and not _bf16_is_fast():
        return torch.float32
    return getattr(torch, name)


def _bf16_is_fast() -> bool:
    """bf16 matmuls are ~3x faster than fp32 on CPUs with AVX512-BF16/AMX (or Arm BF16), and far slower elsewhere.

    Decided from the CPU's flags, not timed: a timing probe costs 13.9 s on a CPU that emulates bf16.
    """
    return native_on_cpu(torch.bfloat16)


def fit(acts: np.ndarray, cfg: TrainConfig, hook_name: str, model_name: str, *, device="cpu",
        checkpoint_dir: str | Path | None = None, callback: Callable[[dict], None] | None = None,
        log_file: str | Path | None = None, progress: bool = True, metadata: dict | None = None):
    """Train on a fixed array of activations (epochs with a fresh shuffle each), return ``(SAE, history)``.

    ``checkpoint_dir``: every 200 steps the trainer is saved there, and a run with the same folder resumes
    from it. Under ``torchrun`` (``saewidgets.distributed.init()`` called first) every rank holds the same
    ``acts`` (a memory-mapped cache) and takes every N-th row of each global batch of ``cfg.batch_size``
    rows (the same order as one process), gradients are summed over the ranks, and only rank 0 writes
    checkpoints and the log or shows progress; every rank returns the same SAE.
    """
    n, d_in = acts.shape
    rank, world = distributed.rank(), distributed.world_size()
    main = rank == 0
    progress = progress and main
    if n < cfg.batch_size:
        raise ValueError(f"only {n} activation rows; training needs at least one batch of {cfg.batch_size} "
                         "(use more text or a smaller batch_size).")
    sample = torch.from_numpy(np.asarray(acts[np.linspace(0, n - 1, min(n, 65536)).astype(int)], dtype=np.float32))
    trainer = TopKTrainer(d_in, cfg, sample.mean(0), device)
    history: list[dict] = []
    ckpt = Path(checkpoint_dir) / "trainer.pt" if checkpoint_dir else None
    if ckpt and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)  # our own file, written below
        trainer.load_state_dict(state["trainer"])
        history = state["history"]
    total_steps = cfg.tokens // cfg.batch_size
    steps_per_epoch = n // cfg.batch_size
    log = open(log_file, "a") if log_file and main else None
    bar = tqdm(total=total_steps, initial=trainer.tokens_seen // cfg.batch_size, desc="train SAE", unit="step",
               disable=not progress)
    start = time.perf_counter()
    try:
        step = trainer.tokens_seen // cfg.batch_size
        while step < total_steps:
            epoch, offset = divmod(step, steps_per_epoch)
            # A fresh shuffle per epoch, seeded by the epoch so a resumed run sees the same order.
            order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
            for lo in range(offset * cfg.batch_size, steps_per_epoch * cfg.batch_size, cfg.batch_size):
                if step >= total_steps:
                    break
                rows = np.sort(order[lo:lo + cfg.batch_size])
                if world > 1:
                    rows = rows[rank::world]  # this rank's share of the global batch
                if trainer.resample_due():
                    pool_rows = np.sort(np.random.default_rng([cfg.seed, step]).choice(n, min(n, 16384), replace=False))
                    pool = torch.from_numpy(np.asarray(acts[pool_rows], dtype=np.float32)).to(device)
                    resampled = trainer.resample(pool)
                    if world > 1:
                        trainer.broadcast_parameters()  # the resampling draws at random: rank 0's draw
                    trainer.last_resample = trainer.tokens_seen
                    if log:
                        log.write(json.dumps({"tokens": trainer.tokens_seen, "resampled": resampled}) + "\n")
                x = _to_device(np.asarray(acts[rows], dtype=np.float32), device)
                metrics = trainer.step(x)
                step += 1
                bar.update(1)
                if metrics and (step % cfg.log_every == 0 or step == total_steps):
                    row = {"step": step, "tokens": trainer.tokens_seen, **metrics,
                           "seconds": time.perf_counter() - start}
                    history.append(row)
                    bar.set_postfix(fvu=f"{metrics['fvu']:.3f}", l0=f"{metrics['l0']:.0f}",
                                    dead=f"{metrics['dead_fraction']:.1%}")
                    if log:
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                    if callback and main:
                        callback(row)
                if ckpt and main and step % 200 == 0:
                    ckpt.parent.mkdir(parents=True, exist_ok=True)
                    torch.save({"trainer": trainer.state_dict(), "history": history}, ckpt.with_suffix(".tmp"))
                    ckpt.with_suffix(".tmp").replace(ckpt)
    finally:
        bar.close()
        if log:
            log.close()
        if callback is not None and main and hasattr(callback, "redraw"):
            callback.redraw()  # show the last rows a throttled live plot skipped
    meta = {**(metadata or {}), "training_tokens": trainer.tokens_seen, "train_config": asdict(cfg),
            # Dead as in the target: no firing in the last min(1M, tokens) training tokens.
            "dead_fraction_last_1M": trainer.dead_fraction(min(1_000_000, trainer.tokens_seen))}
    return trainer.to_sae(hook_name, model_name, meta), pd.DataFrame(history)


def train_sae(lab_or_model, corpus: Iterable[str] | str, layer=None, d_sae: int = 4096, k: int = 32,
              tokens: int = 300_000, *, tokenizer=None, activation_tokens: int | None = None, seq_len: int = 128,
              batch_size: int = 1024, lr: float | None = None, cache_dir: str | Path | None = None,
              checkpoint_dir: str | Path | None = None, callback=None, log_file=None, progress: bool = True,
              seed: int = 0, **config):
    """Train a Top-K SAE on a model's residual stream; returns ``(sae, history_dataframe)``.

    ``corpus``: texts (an iterable of strings, or one string). ``activation_tokens``: how many distinct
    positions to collect (default: all ``tokens``; fewer means several epochs over them).
    """
    model, tokenizer, name, point = _resolve_source(lab_or_model, tokenizer, layer)
    if isinstance(corpus, str):
        corpus = [corpus]
    cfg = TrainConfig(d_sae=d_sae, k=k, tokens=tokens, batch_size=batch_size, lr=lr, seed=seed, **config)
    cfg.check(model.config.hidden_size)
    n_acts = activation_tokens or tokens
    windows = token_windows(tokenizer, corpus, seq_len=seq_len)
    if distributed.active() and cache_dir is not None:
        # rank 0 builds the on-disk cache (or resumes it); the others then map the same file
        if distributed.is_main():
            acts = acts_mod.collect(model, point, windows, n_acts, path=cache_dir, progress=progress)
        distributed.barrier()
        if not distributed.is_main():
            acts = acts_mod.collect(model, point, windows, n_acts, path=cache_dir, progress=False)
    else:  # one process, or every rank computes the same activations in memory
        acts = acts_mod.collect(model, point, windows, n_acts, path=cache_dir,
                                progress=progress and distributed.is_main())
    if len(acts) < batch_size:
        raise ValueError(f"the corpus gave only {len(acts)} usable tokens; training needs at least "
                         f"{batch_size} (one batch). Pass more text.")
    metadata = {"model_name": name, "hook_name": point.name, "activation_tokens": int(len(acts)),
                "seq_len": seq_len}
    return fit(acts, cfg, point.name, name, device=next(model.parameters()).device,
               checkpoint_dir=checkpoint_dir, callback=callback, log_file=log_file, progress=progress,
               metadata=metadata)


def _resolve_source(lab_or_model, tokenizer, layer):
    if hasattr(lab_or_model, "model") and hasattr(lab_or_model, "tokenizer"):  # a Lab
        lab = lab_or_model
        point = HookPoint.parse(layer if layer is not None else lab.hook, lab.n_layers)
        return lab.model, tokenizer or lab.tokenizer, lab.model_name, point
    model = lab_or_model
    if tokenizer is None:
        raise ValueError("pass tokenizer= when training from a bare model (or pass a Lab from sw.load()).")
    if layer is None:
        raise ValueError("pass layer= (a layer number or a name like 'blocks.15.hook_resid_post').")
    n_layers = model.config.num_hidden_layers
    return model, tokenizer, getattr(model, "name_or_path", type(model).__name__), HookPoint.parse(layer, n_layers)
