"""Vocabulary explanations (mutual information, Wu et al.), top tokens, neighbours and the feature map's
layout: small exact cases, the tiny random model, and the shipped artefacts of the default SAE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from saewidgets.analysis import explain as ex_mod
from saewidgets.analysis import feature_map as fm


def test_vocabulary_is_frequent_alphabetic_words():
    words = ex_mod.vocabulary(500)
    assert len(words) == 500 and len(set(words)) == 500
    assert all(w.isalpha() and w.islower() and len(w) >= 2 for w in words)
    assert "the" in words[:5]


def test_vocabulary_scores_match_the_definition():
    torch.manual_seed(0)
    C, E = torch.randn(50, 8), torch.randn(30, 8)
    ids, scores, lse_w, lse_f = ex_mod.vocabulary_scores(C, E, top=5, chunk=7)
    S = C @ E.T
    p_w_c = S.softmax(1)
    log_p_c_w = S.log_softmax(0)
    full = p_w_c * (log_p_c_w + math.log(50))
    best = full.topk(5, dim=1)
    assert np.array_equal(ids, best.indices.numpy())
    assert np.allclose(scores, best.values.numpy(), atol=1e-6)
    assert np.allclose(lse_w, S.logsumexp(1).numpy(), atol=1e-5)
    assert np.allclose(lse_f, S.logsumexp(0).numpy(), atol=1e-5)


def test_a_feature_aligned_with_a_word_is_explained_by_it():
    torch.manual_seed(1)
    E = torch.randn(40, 16)
    C = torch.randn(20, 16) * 0.1
    C[3] = 4 * E[17] / E[17].norm()   # feature 3 writes word 17
    ids, _, _, _ = ex_mod.vocabulary_scores(C, E, top=3)
    assert ids[3, 0] == 17


def test_explain_on_the_tiny_model(tiny_lab):
    tiny_lab.dashboard(0, texts=["hello world, hello there " * 8, "abc abc abc def " * 8], progress=False)
    ex = tiny_lab.explain(5)
    assert list(ex.words.columns) == ["word", "score"] and len(ex.words) >= 1
    assert (ex.words.score > 0).all() and ex.words.score.is_monotonic_decreasing
    assert set(ex.tokens.columns) == {"token", "token_id", "mean_activation"}
    assert "#5" in repr(ex)
    with pytest.raises(IndexError, match="out of range"):
        tiny_lab.explain(10_000)


def test_top_tokens_all_match_the_feature_view(tiny_lab):
    from saewidgets.analysis import dashboards as dash

    d, _ = dash.dashboards(tiny_lab, texts=["the cat sat on the mat " * 10, "one two three four " * 10],
                           progress=False)
    ids, acts = ex_mod.top_tokens_all(d, n=5)
    view = dash.FeatureView(d, tiny_lab.tokenizer)
    for f in range(0, tiny_lab.sae.d_sae, 9):
        want = view.top_tokens(f, n=5)
        got = [int(i) for i, a in zip(ids[f], acts[f]) if a > 0]
        assert got == want.token_id.tolist()
        assert np.allclose(acts[f][:len(got)], want.mean_activation.to_numpy(dtype=float), rtol=1e-3)


def test_metrics_columns(tiny_lab):
    ex = ex_mod.explanations(tiny_lab, progress=False, tokens=False)
    df = ex_mod.metrics(ex, tiny_lab.tokenizer)
    assert list(df.method) == ["vocabulary (MI)", "top tokens"]
    assert {"lexical", "dominate", "diversity"} <= set(df.columns)


def test_neighbors_frame(tiny_lab):
    df = tiny_lab.neighbors(3, k=6)
    assert df.attrs["by"] == "decoder"  # no co-activation counts without lab.prepare: "auto" falls back
    assert {"feature", "cosine", "similarity", "density"} <= set(df.columns) and len(df) == 6 and 3 not in set(df.feature)
    assert np.allclose(df.similarity, df.cosine, atol=1e-6)
    assert df.cosine.is_monotonic_decreasing and "explanation" in df
    unit = tiny_lab.sae.W_dec / tiny_lab.sae.W_dec.norm(dim=1, keepdim=True)
    assert df.cosine[0] == pytest.approx(float(unit[3] @ unit[int(df.feature[0])]), abs=1e-5)
    with pytest.raises(IndexError, match="out of range"):
        tiny_lab.neighbors(128)
    with pytest.raises(ValueError, match="lab.prepare"):
        tiny_lab.neighbors(3, by="coactivation")
    with pytest.raises(ValueError, match="by must be one of"):
        tiny_lab.neighbors(3, by="cosine")


def test_map_layout_pca_and_kmeans(tiny_lab, capsys):
    m = fm.layout(tiny_lab, "auto", progress=False)
    assert m.method == "pca" and "PCA" in capsys.readouterr().out
    assert m.xy.shape == (tiny_lab.sae.d_sae, 2) and m.xy.min() >= 0 and m.xy.max() <= 1
    assert len(m.labels) == m.cluster.max() + 1


def test_map_without_umap_falls_back_to_pca(tiny_lab, monkeypatch, capsys):
    monkeypatch.setattr(fm, "umap_available", lambda: False)
    m = fm.compute(tiny_lab, "umap", progress=False, clusters=4)
    assert m.method == "pca" and "umap-learn is not installed" in capsys.readouterr().out


def test_map_subsamples_huge_saes(tiny_lab, monkeypatch):
    monkeypatch.setattr(fm, "MAX_POINTS", 50)
    m = fm.compute(tiny_lab, "pca", progress=False, clusters=3)
    assert len(m.features) == 50 and m.subsampled and len(np.unique(m.features)) == 50


def test_map_file_round_trip(tmp_path, tiny_lab):
    m = fm.compute(tiny_lab, "pca", progress=False, clusters=5)
    back = fm.FeatureMap.load(m.save(tmp_path / "map.npz"))
    assert np.allclose(back.xy, m.xy, atol=1e-3) and np.array_equal(back.cluster, m.cluster)
    assert back.labels == m.labels and back.meta["sae"] == m.meta["sae"]


def test_kmeans_separates_blobs():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(0, 0.01, (50, 2)), rng.normal(1, 0.01, (50, 2))])
    c = fm.kmeans(xy, 2)
    assert len(set(c[:50])) == 1 and len(set(c[50:])) == 1 and c[0] != c[-1]


@pytest.mark.integration
def test_shipped_artefacts_match_the_default_sae(default_lab):
    from saewidgets.analysis import dashboards as dash

    fp = dash.fingerprint(default_lab.sae)
    assert ex_mod.Explanations.header(ex_mod.shipped_path())["sae"] == fp
    assert fm.FeatureMap.header(fm.shipped_path())["sae"] == fp
    m = fm.layout(default_lab)
    assert m.method == "umap" and len(m.features) == default_lab.sae.d_sae
    ex = default_lab.explain(0)
    assert len(ex.words) > 0


@pytest.mark.integration
def test_stale_artefacts_are_recomputed_with_a_notice(default_lab, capsys):
    import copy

    lab = default_lab.with_sae(copy.deepcopy(default_lab.sae))  # a copy whose weights we may change
    with torch.no_grad():
        lab.sae.W_dec[0] += 0.01
    ex = ex_mod.explanations(lab, tokens=False)
    assert "computing" in capsys.readouterr().out
    assert ex.meta["sae"] != ex_mod.Explanations.header(ex_mod.shipped_path())["sae"]
    assert fm.layout(lab).method == "pca"
