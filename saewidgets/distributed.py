"""Several processes, one job: thin helpers over PyTorch's own ``torch.distributed`` (launched by ``torchrun``).

    torchrun --nproc-per-node 4 -m saewidgets prepare --model gpt2 --sae my-sae --tokens 100000000 --out out/
    torchrun --nnodes 2 --node-rank 0 --rdzv-backend c10d --rdzv-endpoint host0:29500 --nproc-per-node 8 \\
        -m saewidgets train ...

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; ``init()`` reads them and
joins the process group (NCCL when every rank has a GPU, gloo otherwise). Without those variables every
helper here is a no-op for one process: the single-process code paths stay exactly as they were.

What the jobs use:

- ``rank()``, ``world_size()``, ``is_main()``: who am I; only the main rank (0) writes files and shows progress;
- ``all_reduce_(t, op)``: sum / max / min of a tensor over the ranks, in place, whatever device it lives on
  (moved to the backend's device and back), in chunks so that a 1 GB count matrix needs no 1 GB copy;
- ``all_gather(t)``: every rank's tensor of the same shape, as a list (rank order);
- ``broadcast_(t)``: rank 0's values everywhere; ``barrier()``.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

TIMEOUT_MINUTES = float(os.environ.get("SAEWIDGETS_DIST_TIMEOUT_MINUTES", 120))  # rank 0 may build a cache alone
CHUNK_BYTES = 64 * 2**20   # collectives move at most this much at once


def launched() -> bool:
    """True when started by ``torchrun`` (or anything that sets its variables) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if active() or launched() else 0


def is_main() -> bool:
    return rank() == 0


def init(backend: str | None = None) -> bool:
    """Join the process group described by torchrun's environment variables; ``False`` for one process.

    ``backend``: "nccl" (default when CUDA is present) or "gloo" (CPU, or when asked). On CUDA each rank takes
    the GPU of its ``LOCAL_RANK``.
    """
    if active():
        return True
    if not launched():
        return False
    if backend is None:
        backend = os.environ.get("SAEWIDGETS_DIST_BACKEND") or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=TIMEOUT_MINUTES))
    return True


def close() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device(requested="auto") -> torch.device | str:
    """The device a rank should run on: its own GPU under torchrun with CUDA, else what was asked."""
    if launched() and torch.cuda.is_available() and str(requested) in ("auto", "cuda"):
        return torch.device("cuda", local_rank())
    return requested


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN"}


def all_reduce_(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` over the ranks in place (``op``: "sum", "max", "min") and return it."""
    if not active():
        return tensor
    reduce_op = getattr(dist.ReduceOp, _OPS[op])
    comm = _comm_device()
    flat = tensor.view(-1) if tensor.is_contiguous() else tensor.reshape(-1)
    kind = flat.dtype
    wire = torch.int32 if kind == torch.bool else kind  # booleans cannot be reduced
    step = max(1, CHUNK_BYTES // max(flat.element_size(), 1))
    for lo in range(0, flat.numel(), step):
        part = flat[lo:lo + step]
        buf = part.to(comm, wire, copy=part.device != comm or wire != kind)
        dist.all_reduce(buf, op=reduce_op)
        if buf.data_ptr() != part.data_ptr():
            part.copy_(buf.to(kind))
    if not tensor.is_contiguous():
        tensor.copy_(flat.view_as(tensor))
    return tensor


def all_reduce_number(value: float | int, op: str = "sum") -> float | int:
    """A Python number reduced over the ranks (exact for integers)."""
    if not active():
        return value
    is_int = isinstance(value, int) and not isinstance(value, bool)
    t = torch.tensor([value], dtype=torch.int64 if is_int else torch.float64)
    all_reduce_(t, op)
    return int(t.item()) if is_int else float(t.item())


def all_gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (same shape and dtype on all), in rank order, on ``tensor``'s device."""
    if not active():
        return [tensor]
    comm = _comm_device()
    kind = tensor.dtype
    wire = torch.uint8 if kind == torch.bool else kind
    buf = tensor.contiguous().to(comm, wire)
    out = [torch.empty_like(buf) for _ in range(world_size())]
    dist.all_gather(out, buf)
    return [o.to(tensor.device, kind) for o in out]


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank ``src``'s values of ``tensor`` on every rank, in place."""
    if not active():
        return tensor
    comm = _comm_device()
    buf = tensor.detach().contiguous().to(comm)
    dist.broadcast(buf, src)
    with torch.no_grad():
        tensor.copy_(buf.to(tensor.device))
    return tensor


def barrier() -> None:
    if active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def on_main(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on rank 0 only (``None`` elsewhere)."""
    return fn(*args, **kwargs) if is_main() else None
