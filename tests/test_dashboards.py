"""Feature dashboards: streaming computations against brute force, storage, Lab.dashboard and the card's data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import traitlets

import saewidgets as sw
from saewidgets.analysis import dashboards as dash
from saewidgets.analysis.dashboard_pass import Batch, DashboardBuilder, DashboardConfig, ExampleStore, Histogram
from saewidgets.analysis.neighbors import all_neighbors, neighbors
from saewidgets.widgets import codecs
from saewidgets.widgets.feature_card import FeatureCard

from conftest import random_sae

TEXTS = ["The Golden Gate Bridge is a suspension bridge in San Francisco. " * 6,
         "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n" * 6,
         "Once upon a time, there was a little cat who loved to sleep in the sun. " * 6]
SMALL = DashboardConfig(seq_len=32, batch_windows=4, top_width=12, sample_width=8, n_top=5, n_samples=6,
                        n_quantiles=3, n_bins=16)


def random_batches(n_batches=12, B=4, S=32, k=3, d_sae=10, vocab=50, seed=0):
    """Synthetic sparse SAE codes: a few features per token with random positive activations."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(0, vocab, (B, S), generator=gen)
        indices = torch.stack([torch.randperm(d_sae, generator=gen)[:k] for _ in range(B * S)]).view(B, S, k)
        values = torch.rand(B, S, k, generator=gen) * 4 * (torch.rand(B, S, k, generator=gen) > 0.3)
        sink = torch.zeros(B, S, dtype=torch.bool)
        sink[:, 0] = True
        out.append((Batch(ids, values, indices), sink))
    return out


def dense(batch: Batch, d_sae: int, sink) -> torch.Tensor:
    z = torch.zeros(*batch.ids.shape, d_sae).scatter_(-1, batch.indices, batch.values)
    z[sink] = 0
    return z


# ---- the streaming state against brute force


def test_streaming_top_k_equals_brute_force():
    d_sae, K, width = 10, SMALL.n_top, SMALL.top_width
    batches = random_batches(d_sae=d_sae)
    builder = DashboardBuilder(d_sae, SMALL)
    for batch, sink in batches:
        builder.update(batch, sink)
    store = builder.top
    # brute force: per feature, each window's strongest token, the K strongest windows
    z = torch.cat([dense(b, d_sae, s) for b, s in batches])        # [windows, S, d_sae]
    ids = torch.cat([b.ids for b, _ in batches])
    best, where = z.max(dim=1)                                       # [windows, d_sae]
    for f in range(d_sae):
        top = best[:, f].topk(K)
        np.testing.assert_allclose(store.value[f].numpy(), top.values.numpy(), rtol=1e-6)
        for slot, (v, w) in enumerate(zip(top.values, top.indices)):
            p = int(where[w, f])
            start = min(max(p - store.before, 0), ids.shape[1] - width)
            assert store.tokens[f, slot].tolist() == ids[w, start:start + width].tolist()
            np.testing.assert_allclose(store.acts[f, slot].float().numpy(), z[w, start:start + width, f].numpy(),
                                       rtol=1e-3, atol=1e-3)
            assert int(store.center[f, slot]) == p - start and store.acts[f, slot, p - start] == v.half()


def test_sample_is_the_top_k_of_random_keys_across_batches():
    """A reservoir kept as the k largest random keys: merging batch by batch gives the all-at-once answer."""
    d_sae, K = 10, 6
    batches = random_batches(d_sae=d_sae, seed=1)
    store = ExampleStore(d_sae, K, 8)
    gen = torch.Generator().manual_seed(3)
    all_f, all_key, all_v = [], [], []
    for batch, sink in batches:
        firing = (batch.values > 0) & ~sink[..., None]
        w, p, j = firing.nonzero(as_tuple=True)
        f, v = batch.indices[w, p, j], batch.values[w, p, j]
        key = torch.rand(len(f), generator=gen)
        store.offer(batch, f, key, v, w, p)
        all_f.append(f), all_key.append(key), all_v.append(v)
    f, key, v = torch.cat(all_f), torch.cat(all_key), torch.cat(all_v)
    for g in range(d_sae):
        mine = key[f == g]
        top = mine.topk(min(K, len(mine)))
        np.testing.assert_allclose(store.score[g, :len(top.values)].numpy(), top.values.numpy())
        np.testing.assert_allclose(store.value[g, :len(top.values)].numpy(), v[f == g][top.indices].numpy())


def test_histogram_counts_are_exact_and_sum_to_the_firings():
    d_sae, n_bins = 10, 16
    batches = random_batches(d_sae=d_sae, seed=2)
    builder = DashboardBuilder(d_sae, SMALL)
    for i, (batch, sink) in enumerate(batches):
        if i == 5:
            batch.values[0, 3] *= 40  # a late, much larger value: the range doubles several times
        builder.update(batch, sink)
    z = torch.cat([dense(b, d_sae, s) for b, s in batches]).reshape(-1, d_sae)
    h = builder.histogram
    for f in range(d_sae):
        values = z[:, f][z[:, f] > 0]
        top = float(h.top[f])
        assert top >= values.max() and top / 2 < values.max() and np.log2(top) == int(np.log2(top))
        bins = (values / top * n_bins).long().clamp(max=n_bins - 1)
        assert h.counts[f].tolist() == torch.bincount(bins, minlength=n_bins).tolist()
        assert int(h.counts[f].sum()) == int(builder.fired[f]) == len(values)


def test_histogram_merges_bins_when_the_range_grows():
    h = Histogram(1, 8)
    h.add(torch.tensor([0, 0, 0]), torch.tensor([0.1, 0.6, 0.9]))   # range 1: bins of 1/8
    assert h.top.tolist() == [1.0] and h.counts[0].tolist() == [1, 0, 0, 0, 1, 0, 0, 1]
    h.add(torch.tensor([0]), torch.tensor([3.0]))                      # range 4: bins of 1/2
    assert h.top.tolist() == [4.0] and h.counts[0].tolist() == [1, 2, 0, 0, 0, 0, 1, 0]


def test_state_memory_does_not_grow_with_the_corpus():
    d_sae = 10
    small = DashboardBuilder(d_sae, SMALL)
    small.update(*random_batches(n_batches=1, d_sae=d_sae)[0])
    big = DashboardBuilder(d_sae, SMALL)
    for batch, sink in random_batches(n_batches=40, d_sae=d_sae, seed=5):
        big.update(batch, sink)
    assert big.positions == 40 * small.positions
    assert big.nbytes() == small.nbytes()
    assert dash.Dashboards(*big.finish()).nbytes() == dash.Dashboards(*small.finish()).nbytes()


def test_density_and_mean_when_firing():
    d_sae = 10
    batches = random_batches(d_sae=d_sae, seed=4)
    builder = DashboardBuilder(d_sae, SMALL)
    for batch, sink in batches:
        builder.update(batch, sink)
    d = dash.Dashboards(*builder.finish())
    z = torch.cat([dense(b, d_sae, s)[~s] for b, s in batches])     # non-sink tokens
    np.testing.assert_allclose(d.arrays["frequency"], (z > 0).float().mean(0).numpy(), rtol=1e-5)
    mean = z.sum(0) / (z > 0).sum(0)
    np.testing.assert_allclose(d.arrays["mean_activation"], mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(d.arrays["max_activation"], z.max(0).values.numpy(), rtol=1e-6)
    assert d.meta["tokens"] == len(z)


# ---- on the tiny model


@pytest.fixture
def computed(tiny_lab):
    from saewidgets.corpus import token_windows

    windows = token_windows(tiny_lab.tokenizer, TEXTS, seq_len=SMALL.seq_len)
    return dash.compute(tiny_lab.model, tiny_lab.hook, tiny_lab.sae, windows, 10_000, SMALL, progress=False)


def test_compute_on_a_model_matches_lab_encode(tiny_lab, computed):
    from saewidgets.corpus import token_windows

    d = computed
    windows = np.stack(list(token_windows(tiny_lab.tokenizer, TEXTS, seq_len=SMALL.seq_len)))
    assert d.meta["positions"] == windows.size and d.meta["sae"] == dash.fingerprint(tiny_lab.sae)
    # the strongest example of the most frequent feature, recomputed from scratch
    f = int(np.argmax(d.arrays["frequency"]))
    value, tokens, center = d.arrays["top_value"][f, 0], d.arrays["top_tokens"][f, 0], d.arrays["top_center"][f, 0]
    found = [i for i, w in enumerate(windows) if any(
        (w[s:s + len(tokens)] == tokens).all() for s in range(SMALL.seq_len - len(tokens) + 1))]
    assert found
    ids = torch.tensor(windows[found[0]])[None]
    z = tiny_lab.sae.encode(sw.hooks.run_to(tiny_lab.model, tiny_lab.hook, ids))[0, :, f]
    assert z[1:].max().item() == pytest.approx(float(value), rel=1e-4)
    assert d.arrays["top_acts"][f, 0, center] == np.float16(value)


def test_save_and_load_round_trip(tmp_path, computed):
    path = computed.save(tmp_path / "dashboards.npz")
    back = dash.Dashboards.load(path)
    assert back.meta == computed.meta
    assert dash.Dashboards.header(path)["tokens"] == computed.meta["tokens"]
    for key, array in computed.arrays.items():
        np.testing.assert_array_equal(back.arrays[key], array, err_msg=key)
    with np.load(path) as npz:
        assert npz["top_tokens"].dtype == np.uint16 and npz["top_acts"].dtype == np.float16


def test_lab_dashboard_returns_dataframes(tiny_lab):
    d = tiny_lab.dashboard(5, texts=TEXTS, progress=False)
    assert isinstance(d, dash.FeatureDashboard) and d.feature == 5 and d.source == "computed"
    assert isinstance(d.examples, pd.DataFrame) and isinstance(d.logit_lens, pd.DataFrame)
    assert {"activation", "token", "text", "tokens", "activations", "center"} <= set(d.examples.columns)
    assert (d.examples.activation.diff().dropna() <= 0).all()                 # strongest first
    row = d.examples.iloc[0]
    assert row.text == "".join(row.tokens) and row.activations[row.center] == pytest.approx(row.activation, rel=1e-3)
    assert list(d.logit_lens.groupby("direction").size()) == [10, 10]
    pos, neg = d.logit_lens[d.logit_lens.direction == "positive"], d.logit_lens[d.logit_lens.direction == "negative"]
    assert pos.logit.min() >= neg.logit.max()
    assert len(d.quantiles) and set(d.quantiles["interval"]) <= set(range(1, 11))
    assert (d.quantiles.groupby("interval").activation.min().diff().dropna() >= 0).all()  # weakest interval first
    assert d.histogram["count"].sum() > 0 and d.frequency > 0 and d.max_activation >= d.mean_activation > 0
    assert len(d.top_tokens) and "FeatureDashboard(#5" in repr(d)
    # the next call reuses what was computed
    assert tiny_lab.dashboard(6, texts=None, progress=False).tokens == d.tokens


def test_feature_out_of_range_names_the_range(tiny_lab):
    with pytest.raises(IndexError, match=r"out of range.*0\.\.127"):
        tiny_lab.dashboard(128)
    with pytest.raises(IndexError, match=r"out of range.*0\.\.127"):
        tiny_lab.feature(-1)


def test_sae_without_statistics_gets_them_and_dashboards_are_cached(tiny_model_dir, tmp_path, monkeypatch):
    from saewidgets.corpus import token_windows

    monkeypatch.setenv("SAEWIDGETS_CACHE", str(tmp_path))
    calls = []

    def windows(tokenizer, split="train", seq_len=128):
        calls.append(split)
        return token_windows(tokenizer, TEXTS, seq_len=seq_len)

    monkeypatch.setattr(dash, "corpus_windows", windows)
    lab = sw.load(model=str(tiny_model_dir), sae=random_sae(with_stats=False), device="cpu")
    assert lab.sae.stats is None
    d = lab.dashboard(3, tokens=2_000, progress=False)
    assert calls == ["train"] and d.source == "computed"
    assert set(lab.sae.stats) == {"max_activation", "frequency", "mean_activation"}
    assert float(lab.sae.stats["max_activation"][3]) == pytest.approx(d.max_activation)
    assert len(list((tmp_path / "store").glob("*/dashboards.npz"))) == 1  # one store folder per SAE fingerprint
    # a fresh Lab with the same SAE weights finds the cached file instead of computing again
    other = sw.load(model=str(tiny_model_dir), sae=random_sae(with_stats=False), device="cpu")
    again = other.dashboard(3, progress=False)
    assert calls == ["train"] and again.source == "cache"
    pd.testing.assert_frame_equal(again.examples, d.examples)
    # asking for more tokens than stored computes again
    other.dashboard(3, tokens=4_000, progress=False)
    assert calls == ["train", "train"]


# ---- logit lens and neighbours


def test_logit_lens_is_the_folded_unembedding(family_model_dir):
    """lm_head(norm(d) - norm(0)) ranks tokens as d·diag(g)·W_U does (LayerNorm: centred d), for every family."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(family_model_dir).eval()
    d = torch.randn(3, model.config.hidden_size)
    _, top, _, bottom = dash.logit_lens(model, d, k=5)
    norm = dash.final_norm(model)
    assert norm is not None
    gain = norm.weight.detach()
    if type(norm).__name__.startswith("Gemma"):
        gain = 1 + gain
    x = d - d.mean(-1, keepdim=True) if isinstance(norm, torch.nn.LayerNorm) else d
    folded = (x * gain) @ model.get_output_embeddings().weight.detach().T
    assert top.tolist() == folded.topk(5).indices.tolist()
    assert bottom.tolist() == folded.topk(5, largest=False).indices.tolist()


def test_neighbours_by_decoder_cosine():
    sae = random_sae(d_sae=64)
    with torch.no_grad():
        sae.W_dec[7] = sae.W_dec[3] * 5 + 0.01 * sae.W_dec[9]   # 7 points where 3 does
    ids, cos = neighbors(sae, 3, k=4)
    assert ids[0] == 7 and cos[0] > 0.99 and 3 not in ids and (np.diff(cos) <= 0).all()
    every_ids, every_cos = all_neighbors(sae, k=4, chunk=10)
    w = sae.W_dec.detach()
    unit = w / w.norm(dim=1, keepdim=True)
    brute = (unit @ unit.T).fill_diagonal_(-2).topk(4, dim=1)
    np.testing.assert_array_equal(every_ids, brute.indices.numpy())
    np.testing.assert_allclose(every_cos, brute.values.numpy(), rtol=1e-5)


# ---- the feature card's data (the view is tested in js/test and tests/browser)


@pytest.fixture
def card(tiny_lab):
    tiny_lab.dashboard(0, texts=TEXTS, progress=False)
    return tiny_lab.feature(5)


def test_card_sends_the_features_dashboard(card, tiny_lab):
    assert isinstance(card, FeatureCard) and card.feature == 5 and card.d_sae == 128 and "render" in card._esm
    c = card.card
    d = tiny_lab.dashboard(5)
    assert c["feature"] == 5 and c["stats"]["max"] == pytest.approx(d.max_activation)
    assert c["stats"]["scale"] == 2.0  # the SAE's max-activation statistic, as in the heatmap
    ex = c["examples"]
    acts = codecs.decode(ex["acts"])
    assert ex["tokens"] == list(d.examples.tokens) and acts.shape == (len(d.examples), DashboardConfig().top_width)
    np.testing.assert_array_equal(codecs.decode(ex["center"]), d.examples.center)
    assert isinstance(ex["acts"]["data"], bytes) and isinstance(ex["tokens"][0][0], str)
    assert [t["token"] for t in c["logits"]["positive"]] == list(d.logit_lens.token[:10])
    assert len(c["neighbors"]) == 8 and all(n["feature"] != 5 for n in c["neighbors"])
    assert codecs.decode(c["histogram"]["counts"]).tolist() == d.histogram["count"].tolist()
    assert c["explanation"]["kind"] == "top tokens" and c["explanation"]["text"]


def test_card_follows_its_feature_and_rejects_bad_ones(card):
    card.feature = 9
    assert card.card["feature"] == 9 and card.quantiles == {}
    with pytest.raises(IndexError, match="out of range"):
        card.feature = 1000
    assert card.feature == 9 and "out of range" in card.error
    card.set_state({"feature": 4000})  # from the browser: shown there, rolled back
    assert card.feature == 9 and "out of range" in card.error
    card.feature = None
    assert card.card == {}


def test_card_answers_quantile_requests_with_their_id(card, tiny_lab):
    card._on_request(card, {"type": "quantiles", "id": 7, "feature": 5}, [])
    q = card.quantiles
    assert q["id"] == 7 and q["feature"] == 5
    expected = tiny_lab.dashboard(5).quantiles
    assert [i["label"] for i in q["intervals"]] == list(dict.fromkeys(expected["quantile"]))
    values = [v for i in q["intervals"] for v in codecs.decode(i["examples"]["value"])]
    assert sorted(values) == pytest.approx(sorted(expected.activation), rel=1e-6)
    card._on_request(card, {"type": "quantiles", "id": 8, "feature": 99999}, [])
    assert card.quantiles["id"] == 8 and "out of range" in card.quantiles["error"]


def test_card_links_to_a_heatmap(card, tiny_lab):
    hm = tiny_lab.heatmap("Hello there")
    link = traitlets.link((hm, "feature"), (card, "feature"))
    hm.feature = 17
    assert card.feature == 17 and card.card["feature"] == 17
    card.feature = 3  # a neighbour clicked in the card recolours the heatmap
    assert hm.feature == 3
    link.unlink()


@pytest.mark.integration
def test_shipped_dashboards_belong_to_the_shipped_sae(default_lab):
    path = dash.shipped_path()
    assert path.exists(), "ship dashboards: python -m saewidgets.analysis.dashboards --minutes 11"
    assert path.stat().st_size < 40e6
    assert dash.Dashboards.header(path)["sae"] == dash.fingerprint(default_lab.sae)  # rebuilt with the SAE
    d, source = dash.dashboards(default_lab)
    assert source == "shipped" and d.d_sae == default_lab.sae.d_sae
    live = int(np.argmax(d.arrays["frequency"]))
    card = default_lab.dashboard(live)
    assert len(card.examples) == 20 and card.quantiles["interval"].nunique() == 10
