"""Co-occurrence counts, context MI and the detection AUROC against brute force on small random codes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from saewidgets.analysis import cooccurrence as co
from saewidgets.analysis.explanation_quality import auroc, incidence, scores


def random_code(B=3, S=10, k=4, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    indices = torch.stack([torch.randperm(d, generator=g)[:k] for _ in range(B * S)]).view(B, S, k)
    values = torch.rand(B, S, k, generator=g)
    values[values < 0.3] = 0.0              # some slots silent
    valid = torch.ones(B, S, dtype=torch.bool)
    valid[:, 0] = False                      # attention sinks
    return indices, values, valid


@pytest.mark.parametrize("segment", [1, 3, 16])
def test_coactivation_counts_match_brute_force(segment):
    indices, values, valid = random_code()
    B, S, k = indices.shape
    d = 12
    counts = co.Coactivation(d, segment)
    counts.update(indices, values > 0, valid)
    counts.update(indices, values > 0, valid)  # a second batch adds up
    expected = np.zeros((d, d), dtype=np.int64)
    fired = np.zeros(d, dtype=np.int64)
    segments = 0
    for b in range(B):
        for lo in range(0, S, segment):
            members = {int(indices[b, s, j]) for s in range(lo, min(lo + segment, S)) if valid[b, s]
                       for j in range(k) if values[b, s, j] > 0}
            segments += any(bool(valid[b, s]) for s in range(lo, min(lo + segment, S)))
            for f in members:
                fired[f] += 1
            for i, j in itertools.combinations(sorted(members), 2):
                expected[i, j] += 1
                expected[j, i] += 1
    assert np.array_equal(counts.matrix().numpy(), 2 * expected)
    assert np.array_equal(counts.fired.numpy(), 2 * fired)
    assert counts.segments == 2 * segments


def test_coactivation_state_round_trip_and_partners():
    indices, values, valid = random_code(seed=1)
    counts = co.Coactivation(12, 2)
    counts.update(indices, values > 0, valid)
    again = co.Coactivation(12, 2)
    again.load_state_dict(counts.state_dict())
    assert torch.equal(again.pairs, counts.pairs) and again.segments == counts.segments
    with pytest.raises(ValueError, match="other segments"):
        co.Coactivation(12, 3).load_state_dict(counts.state_dict())
    ids, sims = co.top_partners(counts, k=5, how="jaccard", chunk=5)
    m = counts.matrix().double()
    f = counts.fired.double()
    for a in range(12):
        brute = m[a] / (f[a] + f - m[a]).clamp(min=1)
        brute[m[a] < co.MIN_PAIRS] = -math.inf
        brute[a] = -math.inf
        finite = np.isfinite(sims[a])
        assert np.allclose(sims[a][finite], brute[ids[a][finite]].numpy(), atol=1e-6)
        assert sims[a][0] == pytest.approx(float(brute.max()), abs=1e-6) or not finite.any()
        assert a not in set(ids[a][finite].tolist())


def test_context_word_counts_and_mi_match_brute_force(monkeypatch):
    monkeypatch.setattr(co, "MIN_NEAR", 2)  # the random code is small: let pairs seen twice count
    indices, values, valid = random_code(B=2, S=9, k=3, d=7, seed=2)
    vocab, n_words, radius = 20, 5, 2
    token_word = torch.full((vocab,), -1, dtype=torch.long)
    token_word[[3, 4, 8, 11, 15]] = torch.tensor([0, 1, 2, 3, 4])
    token_word[5] = 1                          # two tokens of the same word ("bridge", " Bridge")
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, vocab, (2, 9), generator=g)
    counts = co.ContextWords(7, token_word, n_words, radius)
    counts.update(ids, indices, values > 0, valid)
    pairs = np.zeros((7, n_words), dtype=np.int64)
    near_total = np.zeros(n_words, dtype=np.int64)
    fired = np.zeros(7, dtype=np.int64)
    for b in range(2):
        for s in range(9):
            if not valid[b, s]:
                continue
            near = {int(token_word[ids[b, t]]) for t in range(max(0, s - radius), min(9, s + radius + 1))} - {-1}
            for w in near:
                near_total[w] += 1
            for j in range(3):
                if values[b, s, j] > 0:
                    f = int(indices[b, s, j])
                    fired[f] += 1
                    for w in near:
                        pairs[f, w] += 1
    assert np.array_equal(counts.matrix().numpy(), pairs)
    assert np.array_equal(counts.word_near.numpy(), near_total)
    assert np.array_equal(counts.fired.numpy(), fired)
    assert counts.positions == int(valid.sum())

    top_ids, top_scores = co.context_mi(counts, top=3)
    p_w = near_total / counts.positions
    for f in range(7):
        p = pairs[f] / (fired[f] + co.PRIOR_FIRINGS)
        with np.errstate(divide="ignore", invalid="ignore"):
            brute = np.where(pairs[f] >= 2, p * np.log(p / p_w), 0.0)
            brute = np.where(brute > 0, brute, 0.0)
        assert np.allclose(np.sort(top_scores[f])[::-1], np.sort(brute)[::-1][:3], atol=1e-5)
        assert np.allclose(brute[top_ids[f]], top_scores[f], atol=1e-5)
    w_ids, w_scores = co.word_features(counts, top=2)
    for w in range(n_words):
        col = []
        for f in range(7):
            p = pairs[f, w] / (fired[f] + co.PRIOR_FIRINGS)
            col.append(max(p * np.log(p / p_w[w]), 0.0) if pairs[f, w] >= 2 else 0.0)
        assert np.allclose(w_scores[w], np.sort(col)[::-1][:2], atol=1e-5)


class WordTokenizer:
    """A tokenizer with a few whole-word tokens, some with a leading space (as BPE vocabularies have)."""

    vocab = {" bridge": 0, " Bridge": 1, "bridge": 2, " river": 3, "ar": 4, " ar": 5, "x": 6}

    def __len__(self):
        return len(self.vocab)

    def get_vocab(self):
        return dict(self.vocab)

    def decode(self, ids):
        inverse = {i: t for t, i in self.vocab.items()}
        return "".join(inverse[i] for i in ids)

    def __call__(self, texts, add_special_tokens=False):
        class Out:
            input_ids = [[self.vocab[t]] if t in self.vocab else [6, 6] for t in texts]
        return Out()


def test_token_words_maps_only_whole_words_after_a_space():
    mapping = co.token_words(WordTokenizer(), ["bridge", "river", "ar"])
    assert mapping.tolist() == [0, 0, -1, 1, -1, 2, -1]  # "bridge" and "ar" without a space are word pieces
    assert co.token_words(WordTokenizer(), []).tolist() == [-1] * 7


def test_detection_auroc_against_brute_force():
    rng = np.random.default_rng(0)
    contexts = rng.integers(0, 30, size=(40, 6))
    present = incidence(contexts, 30)
    assert present[3, contexts[3, 0]] and present.sum(1).max() <= 6
    entries = [(1, 2), (5,), (7, 9)]
    s = scores(present, entries)
    brute = [sum((1 - 0.05 * r) for r, e in enumerate(entries) if set(e) & set(row.tolist())) for row in contexts]
    assert np.allclose(s.numpy(), brute)
    labels = rng.random(40) < 0.4
    pos, neg = s[torch.from_numpy(labels)], s[torch.from_numpy(~labels)]
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a in pos.tolist() for b in neg.tolist()]
    assert auroc(pos, neg) == pytest.approx(np.mean(pairs))
    assert math.isnan(auroc(pos[:0], neg))


def test_the_pass_counts_what_a_brute_force_encoding_finds(tiny_lab):
    """The streaming pass on a tiny model: its counts equal those recomputed from ``sae.encode_sparse``."""
    from saewidgets.activations import sink_mask
    from saewidgets.analysis.dashboard_pass import DashboardBuilder, DashboardConfig, run_pass
    from saewidgets.hooks import run_to

    lab = tiny_lab
    sae = lab.sae
    words = ["a", "e", "o", "t"]  # the byte-level tokenizer has no whole word after a space: map letters
    token_word = torch.full((len(lab.tokenizer),), -1, dtype=torch.long)
    for n, w in enumerate(words):
        token_word[lab.tokenizer(w, add_special_tokens=False).input_ids[0]] = n
    config = DashboardConfig(seq_len=16, batch_windows=2, n_top=3, top_width=8, n_samples=3, sample_width=8)
    g = torch.Generator().manual_seed(0)
    windows = [torch.randint(0, len(lab.tokenizer) - 3, (16,), generator=g).numpy() for _ in range(5)]
    builder = DashboardBuilder(sae.d_sae, config, coactivation=co.Coactivation(sae.d_sae, 4),
                               context=co.ContextWords(sae.d_sae, token_word, len(words), radius=2))
    run_pass(lab.model, lab.hook, sae, windows, 5 * 16, config, progress=False, builder=builder)
    ids = torch.as_tensor(np.stack(windows))
    acts = run_to(lab.model, lab.hook, ids)
    values, indices = sae.encode_sparse(acts.to(sae.dtype))
    valid = ~sink_mask(acts)
    d = sae.d_sae
    pairs = np.zeros((d, d), dtype=np.int64)
    near = np.zeros((d, len(words)), dtype=np.int64)
    for b in range(len(windows)):
        for lo in range(0, 16, 4):
            members = {int(indices[b, s, j]) for s in range(lo, lo + 4) if valid[b, s]
                       for j in range(indices.shape[-1]) if values[b, s, j] > 0}
            for i, j in itertools.combinations(sorted(members), 2):
                pairs[i, j] += 1
                pairs[j, i] += 1
        for s in range(16):
            if not valid[b, s]:
                continue
            close = {int(token_word[ids[b, t]]) for t in range(max(0, s - 2), min(16, s + 3))} - {-1}
            for j in range(indices.shape[-1]):
                if values[b, s, j] > 0:
                    for w in close:
                        near[int(indices[b, s, j]), w] += 1
    assert np.array_equal(builder.coactivation.matrix().numpy(), pairs)
    assert np.array_equal(builder.context.matrix().numpy(), near)
    assert near.sum() > 0 and pairs.sum() > 0


def test_a_word_token_that_a_longer_word_goes_on_from_is_not_that_word():
    """" pro" + "cess" is "process", not the word "pro": the continuation mask leaves it out."""
    token_word = torch.tensor([0, -1, 1, -1])          # token 0 " pro" -> word 0, token 2 " river" -> word 1
    continues = torch.tensor([False, True, False, False])  # token 1 "cess" continues a word
    counts = co.ContextWords(1, token_word, 2, radius=1, continues=continues)
    ids = torch.tensor([[0, 1, 2, 0, 3]])               # " pro|cess river pro ."
    near = counts.near_words(ids)
    assert near[0, 0].tolist().count(0) == 0            # the first " pro" is part of "process"
    assert 0 in near[0, 4].tolist() and 1 in near[0, 2].tolist()
    assert {w for w in near[0, 1].tolist() if w >= 0} == {1}
    tok = WordTokenizer()
    assert co.continuation_tokens(tok).tolist() == [False, False, True, False, True, False, True]
