"""Dtype paths are chosen from what the CPU reports, never by timing an emulated product (a bf16 timing probe
cost 13.9 s on an AMD EPYC without native bf16, more than it could ever save)."""

from __future__ import annotations

import pytest
import torch

from saewidgets import topk_screen, train

NO_HALF = frozenset({"sse4_2", "avx2", "fma", "avx512f", "avx512_vnni"})       # e.g. Zen 3, Cascade Lake
WITH_BF16 = NO_HALF | {"avx512_bf16"}                                          # e.g. Zen 4, Sapphire Rapids


@pytest.fixture
def cpu(monkeypatch):
    def report(flags):
        monkeypatch.setattr(topk_screen, "cpu_flags", lambda: frozenset(flags))
        topk_screen._CHOICE.clear()

    yield report
    topk_screen._CHOICE.clear()


def test_the_trainer_selects_in_bf16_only_where_the_cpu_has_it(cpu, monkeypatch):
    monkeypatch.setattr(torch.Tensor, "__matmul__", lambda *a: pytest.fail("no timing probe may run"))
    cpu(NO_HALF)
    assert train._select_dtype("bfloat16") == torch.float32
    cpu(WITH_BF16)
    assert train._select_dtype("bfloat16") == torch.bfloat16
    cpu(NO_HALF)
    assert train._select_dtype("bfloat16", "cuda") == torch.bfloat16   # a GPU is not asked about CPU flags


def test_the_screen_probe_times_only_what_the_cpu_computes_natively(cpu, monkeypatch):
    tried = []
    real = topk_screen.prepare
    monkeypatch.setattr(topk_screen, "prepare", lambda W, kind, *a: (tried.append(kind), real(W, kind, *a))[1])
    cpu(NO_HALF)
    topk_screen.screen_kind(False)
    assert torch.float16 not in tried and torch.bfloat16 not in tried
    tried.clear()
    cpu(set())                                        # a CPU that reports nothing (macOS, Windows): int8 only
    topk_screen.screen_kind(True)
    assert set(tried) <= {topk_screen.INT8}


def test_flags_are_read_from_the_cpu_here():
    flags = topk_screen.cpu_flags()
    assert isinstance(flags, frozenset)
    if flags:  # Linux: the flags line was parsed into words, not one string
        assert all(" " not in f for f in flags) and len(flags) > 3
