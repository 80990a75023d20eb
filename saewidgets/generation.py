"""Generation with one intervention a batch row, token streaming and cancellation.

Everything here runs Hugging Face ``generate`` (so it is as fast as plain generation) with one hook at the
SAE's hook point whose intervention differs per batch row (``steering.Intervention``). That gives:

- ``generate_rows``: several prompts and/or interventions in ONE batched call (a sweep of strengths plus
  the unsteered baseline costs little more than one generation);
- streaming: ``on_step(texts)`` is called after every decoding step with each row's text so far;
- cancellation: a ``threading.Event`` checked after every decoding step (a stopping criterion), so a
  cancelled generation ends within one step;
- ``Worker``: one background thread per Lab that runs generation jobs, newest wins. A new job cancels the
  running one; the kernel's main thread only enqueues, so widget messages are handled while generating
  (with ipykernel 6 a message that arrives while a handler blocks would wait until it returns).

The model's hooks are removed in ``finally`` (``hooks.edit``): an exception or KeyboardInterrupt anywhere,
in a callback included, leaves the model as it was.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import torch

from .hooks import edit
from .monitor import active_monitor
from .steering import Intervention

Steer = Mapping[int, float] | None


@dataclass
class Batch:
    """The rows of one batched generation."""

    texts: list[str]                 # each row's generated text (special tokens left out)
    tokens: list[int]                # generated tokens per row (up to and including its end token)
    finished: list[bool]             # row ended with an end-of-sequence token (not cut by length or cancel)
    cancelled: bool = False
    seconds: float = 0.0
    first_token_s: float | None = None  # time from the call to the first generated token
    stopped: list[bool] = field(default_factory=list)      # row ended by a monitor's stop action
    reasons: list[str | None] = field(default_factory=list)  # why (None: not stopped)


def check_settings(max_new_tokens: int, temperature: float) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a whole number of at least 1 (got {max_new_tokens!r}).")
    if not isinstance(temperature, (int, float)) or not temperature == temperature or temperature < 0 \
            or temperature > 10:
        raise ValueError(f"temperature must be 0 (greedy) or a positive number up to 10 (got {temperature!r}).")


class _Stream:
    """A generate() streamer: collects each row's new tokens and reports the texts after every step."""

    def __init__(self, tokenizer, rows: int, eos: set[int], on_step, start: float, watch=None):
        self.tokenizer, self.eos, self.on_step, self.start, self.watch = tokenizer, eos, on_step, start, watch
        self.ids: list[list[int]] = [[] for _ in range(rows)]
        self.done = [False] * rows
        self.prompt_seen = False
        self.first_token_s: float | None = None

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        if self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.start
        tokens = value.reshape(-1).tolist()
        if self.watch is not None:  # the monitor learns which token its next decoding step reads
            self.watch.read_tokens(tokens)
        for r, token in enumerate(tokens):
            if self.done[r]:
                continue
            self.ids[r].append(token)
            if token in self.eos:
                self.done[r] = True
        if self.on_step is not None:
            self.on_step(self.texts())

    def end(self) -> None:
        pass

    def texts(self) -> list[str]:
        return self.tokenizer.batch_decode(self.ids, skip_special_tokens=True)


class _Cancelled:
    """A stopping criterion: every row stops once ``event`` is set (checked after each decoding step)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def generate_rows(lab, prompt_ids: Sequence[Sequence[int]], rows: Sequence[tuple[Steer, str]], *,
                  max_new_tokens: int = 64, temperature: float = 0.0, seed: int | None = None,
                  on_step: Callable[[list[str]], None] | None = None,
                  cancel: threading.Event | None = None, monitor=None, **generate_kwargs) -> Batch:
    """Generate every row in one batched call: row r reads ``prompt_ids[r]`` and is steered by ``rows[r]``.

    Prompts of different lengths are left-padded; each row's attention sink (its first real token) is
    never steered. ``on_step(texts)`` streams; setting ``cancel`` stops within one decoding step.
    ``monitor`` (a ``monitor.Monitor``; default: the one entered with ``with monitor:`` on this model, if
    any) watches every row, after the row's steering, in the same hook. Other keyword arguments go to
    ``model.generate`` (e.g. ``min_new_tokens`` for benchmarks).
    """
    from transformers import LogitsProcessorList, StoppingCriteriaList

    if len(prompt_ids) != len(rows) or not rows:
        raise ValueError("generate_rows needs one prompt a row and at least one row.")
    check_settings(max_new_tokens, temperature)
    longest = max(len(p) for p in prompt_ids)
    room = lab.context_length - longest
    if room < 1:
        raise ValueError(f"the prompt has {longest} tokens and fills the model's context of "
                         f"{lab.context_length}; shorten it.")
    tok = lab.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    pad = [longest - len(p) for p in prompt_ids]
    ids = torch.tensor([[pad_id] * n + list(p) for n, p in zip(pad, prompt_ids)], device=lab.device)
    mask = torch.tensor([[0] * n + [1] * len(p) for n, p in zip(pad, prompt_ids)], device=lab.device)
    eos = getattr(lab.model.generation_config, "eos_token_id", None)
    eos = set(eos if isinstance(eos, (list, tuple)) else [eos if eos is not None else tok.eos_token_id]) - {None}
    start = time.perf_counter()
    monitor = monitor if monitor is not None else active_monitor(lab.model)
    watch = monitor.start(prompt_ids, pad, eos) if monitor is not None else None
    stream = _Stream(tok, len(rows), eos, on_step, start, watch)
    cancel = cancel or threading.Event()
    if seed is not None:
        torch.manual_seed(seed)
    sampling = {"do_sample": True, "temperature": float(temperature)} if temperature > 0 else {"do_sample": False}
    steered = any(steer for steer, _ in rows)
    steering = Intervention(lab.need_sae(), rows, pad) if steered else None
    processors = LogitsProcessorList([watch.logits_processor()] if watch is not None else [])
    try:
        with model_lock(lab.model), edit(lab.model, lab.hook, _chain(steering, watch)) if (steering or watch) \
                else _nothing():
            lab.model.generate(ids, attention_mask=mask, max_new_tokens=min(max_new_tokens, room),
                               pad_token_id=pad_id, top_p=None, top_k=None, streamer=stream,
                               logits_processor=processors,
                               stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]), **sampling,
                               **generate_kwargs)
    finally:
        if watch is not None:
            watch.finish(cancelled=cancel.is_set())
    stopped = list(watch.stopping) if watch is not None else [False] * len(rows)
    reasons = [watch.reason(r) for r in range(len(rows))] if watch is not None else [None] * len(rows)
    return Batch(stream.texts(), [len(i) for i in stream.ids], list(stream.done), cancel.is_set(),
                 time.perf_counter() - start, stream.first_token_s, stopped, reasons)


def _chain(steering, watch):
    """The one hook function: the call's own steering first, then the monitor reads (and may act)."""
    if watch is None:
        return steering
    if steering is None:
        return watch
    return lambda x: watch(steering(x))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def model_lock(model) -> threading.RLock:
    """One lock per model: generations (and their hooks) on a model never overlap, whichever Lab runs them."""
    lock = model.__dict__.get("_saewidgets_lock")
    if lock is None:
        lock = model.__dict__.setdefault("_saewidgets_lock", threading.RLock())
    return lock


def model_worker(model) -> "Worker":
    """The background generation worker of a model (shared by its Labs, streams and panels)."""
    worker = model.__dict__.get("_saewidgets_worker")
    if worker is None:
        worker = model.__dict__.setdefault("_saewidgets_worker", Worker())
    return worker


# ---- the background worker


@dataclass(eq=False)
class Job:
    """One unit of work for the ``Worker``: ``fn(job)`` runs in the worker thread."""

    fn: Callable[["Job"], None]
    id: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class Worker:
    """One daemon thread running jobs one at a time; ``submit`` cancels the running job and any waiting one."""

    def __init__(self, name: str = "saewidgets-generation"):
        self.name = name
        self._cv = threading.Condition()
        self._pending: Job | None = None
        self._running: Job | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0

    def submit(self, fn: Callable[[Job], None]) -> Job:
        with self._cv:
            self._ids += 1
            job = Job(fn, self._ids)
            for old in (self._pending, self._running):
                if old is not None:
                    old.cancel.set()
            if self._pending is not None:
                self._pending.done.set()  # dropped before it started
            self._pending = job
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._cv.notify()
        return job

    def cancel(self) -> None:
        """Stop the running job (within one decoding step) and drop a waiting one."""
        with self._cv:
            for job in (self._pending, self._running):
                if job is not None:
                    job.cancel.set()

    @property
    def busy(self) -> bool:
        with self._cv:
            return self._pending is not None or self._running is not None

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._pending is None:
                    if not self._cv.wait(timeout=60):
                        self._thread = None  # idle for a minute: let the thread go, submit starts another
                        return
                job, self._pending = self._pending, None
                self._running = job
            try:
                if not job.cancelled:
                    job.fn(job)
            except BaseException as err:  # reported through the job; the thread keeps serving
                job.error = err
            finally:
                with self._cv:
                    self._running = None
                job.done.set()


class Stream:
    """A generation running in the background: iterate to get text pieces as they come.

        for piece in lab.stream("Tell me about the sea", steer={123: 6.0}):
            print(piece, end="", flush=True)

    ``cancel()`` stops it within one decoding step; so does a newer ``lab.stream``/panel request or
    KeyboardInterrupt while iterating. ``text`` is the text so far; ``result`` the ``Batch`` when done.
    """

    def __init__(self, worker: Worker, run: Callable[[Callable[[list[str]], None], threading.Event], Batch]):
        import queue

        self._queue: queue.Queue = queue.Queue()
        self.text, self.result = "", None

        def fn(job: Job) -> None:
            try:
                self.result = run(lambda texts: self._queue.put(("text", texts[0])), job.cancel)
            finally:
                self._queue.put(("end", None))

        self.job = worker.submit(fn)

    def cancel(self) -> None:
        self.job.cancel.set()

    def __iter__(self) -> Iterator[str]:
        ended = False
        try:
            while True:
                kind, text = self._queue.get()
                if kind == "end":
                    ended = True
                    break
                piece, self.text = text[len(self.text):] if text.startswith(self.text) else text, text
                if piece:
                    yield piece
        finally:
            if not ended:
                self.cancel()  # a break or KeyboardInterrupt in the loop stops the generation too
        self.job.wait()
        if self.job.error is not None:
            raise self.job.error

    def __repr__(self) -> str:
        state = "cancelled" if self.job.cancelled else "done" if self.job.done.is_set() else "running"
        return f"Stream({state}, {len(self.text)} characters)"
