"""Bring your own model and SAE: train one, ``lab.prepare`` it, and serve every view from its feature store.

A tiny randomly initialised llama (a model folder that is not the default), an SAE trained here with
``sw.train_sae`` at layer 1 (not the middle layer), ``lab.prepare(texts)`` on a small corpus; then the
card, map, search, explanations, neighbours and heatmap come from the store, and a second process that
loads the saved folder shows the same card without running the model once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import saewidgets as sw
from saewidgets.analysis import coactivation as coact_mod
from saewidgets.analysis import dashboards as dash
from saewidgets.analysis import explain as explain_mod
from saewidgets.analysis import feature_map as fmap_mod
from saewidgets.analysis import prepare as prepare_mod
from saewidgets.store import store_of

TEXTS = [
    "The Golden Gate Bridge is a suspension bridge in San Francisco. ",
    "My dog loves to run in the park and fetch the ball every morning. ",
    "She played the piano and the violin at the concert last night. ",
    "The ocean waves crashed on the sandy beach under the summer sun. ",
    "Add the flour, then the eggs, and stir the batter until smooth. ",
    "The court ruled that the contract was void and the appeal failed. ",
] * 12
LAYER = 1


class ForwardCounter:
    """Counts forward calls of a model's decoder layers (a view served from the store makes none)."""

    def __init__(self, model):
        self.calls = 0
        self.handles = [m.register_forward_pre_hook(self._count) for m in sw.hooks.decoder_layers(model)]

    def _count(self, *_):
        self.calls += 1

    def remove(self):
        for h in self.handles:
            h.remove()


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """(lab with the trained SAE, the prepared folder, the model folder, what prepare returned)."""
    from conftest import save_tiny_model

    model_dir = save_tiny_model(tmp_path_factory.mktemp("own-model"), "llama", seed=3)
    base = sw.load(model=str(model_dir), device="cpu")
    assert base.sae is None  # not the default model: no SAE comes with it
    sae, _ = sw.train_sae(base, TEXTS, layer=LAYER, d_sae=64, k=4, tokens=4096, batch_size=256, progress=False)
    lab = base.with_sae(sae)
    assert lab.layer == LAYER and lab.sae.stats is None
    out = tmp_path_factory.mktemp("prepared") / "my-sae"
    done = lab.prepare(TEXTS, tokens=4000, out=out, progress=False)
    return lab, out, model_dir, done


def test_prepare_writes_one_folder_with_every_artefact(own):
    lab, out, _, done = own
    names = {p.name for p in out.iterdir()}
    assert {"cfg.json", "sae_weights.safetensors", "feature_stats.safetensors", "dashboards.npz",
            "explanations.npz", "feature_map.npz", "prepare.json"} <= names
    assert ".prepare" not in names  # the checkpoint is gone once finished
    fp = lab.store.fingerprint
    for kind in (dash.KIND, explain_mod.KIND, fmap_mod.KIND):
        assert kind.type.header(out / kind.file)["sae"] == fp
    assert done.tokens >= 3500 and done.folder == out and set(done.seconds) >= {"pass", "explanations", "map"}
    summary = json.loads((out / "prepare.json").read_text())
    assert summary["tokens"] == done.tokens and summary["sae"] == fp
    # the statistics of the pass became the SAE's (steering units, heatmap colours)
    assert set(lab.sae.stats) == {"max_activation", "frequency", "mean_activation"}
    assert "probe_features" in explain_mod.Explanations.load(out / "explanations.npz").arrays  # search table


def test_prepare_gathers_what_fires_together(own):
    """Co-activation neighbours, context words and explanation qualities come out of the same pass."""
    lab, out, _, _ = own
    fp = lab.store.fingerprint
    assert {"coactivation.npz", "feature_map_coactivation.npz"} <= {p.name for p in out.iterdir()}
    assert coact_mod.CoactivationNeighbors.header(out / "coactivation.npz")["sae"] == fp
    table = coact_mod.CoactivationNeighbors.load(out / "coactivation.npz")
    assert table.ids.shape == (64, min(coact_mod.TOP, 63))
    alive = np.nonzero(lab.sae.stats["frequency"].numpy() > 0)[0]
    f = int(next(g for g in alive if len(table.of(int(g), 10)[0]) >= 5))  # one with partners (phi > 0)
    ids, sims = table.of(f, 10)
    assert len(ids) and f not in ids and np.all(np.diff(sims) <= 1e-6) and np.all((sims > 0) & (sims <= 1))
    ex = explain_mod.Explanations.load(out / "explanations.npz")
    assert {"context_ids", "context_scores", "context_word_features", "quality"} <= set(ex.arrays)
    assert ex.arrays["quality"].shape == (64, len(explain_mod.METHODS))
    # (the tiny byte-level tokenizer has no vocabulary word as one token, so its context lists stay empty;
    # tests/test_cooccurrence.py checks the counts on a tiny model with single-letter words)
    assert all(w in ex.words for g in alive for w in ex.context_words(int(g)))
    stop = explain_mod.function_words(ex.words)
    assert not any(w in {x for x, s in zip(ex.words, stop) if s} for g in alive for w in ex.context_words(int(g)))
    df = lab.neighbors(f, k=5, by="coactivation")
    freq = lab.sae.stats["frequency"].numpy()
    ranked = [g for g in table.of(f, 64)[0] if freq[g] <= 0.1] + [g for g in table.of(f, 64)[0] if freq[g] > 0.1]
    assert df.attrs["by"] == "coactivation" and df.feature.tolist() == ranked[:5]  # dense partners go last
    assert lab.neighbors(f, k=5).attrs["by"] == "coactivation"  # "auto" uses the counts when there are some
    both = lab.neighbors(f, k=5, by="both")
    assert both.attrs["by"] == "both"
    # "both" ranks by phi + half the cosine: check the order from the two tables themselves
    phi = dict(zip(*table.of(f, coact_mod.TOP)))
    expected = [max(phi.get(g, 0.0), 0.0) + 0.5 * max(c, 0.0) for g, c in zip(both.feature, both.cosine)]
    assert np.allclose(both.similarity, expected, atol=1e-4) and list(both.similarity) == sorted(both.similarity, reverse=True)
    assert lab.neighbors(f, k=5, by="decoder").attrs["by"] == "decoder"
    coact_map = lab.map(by="coactivation").map.layout_data
    assert coact_map.meta["by"] == "coactivation" and coact_map.xy.shape == (64, 2)


def test_every_view_is_served_from_the_store(own):
    lab, out, _, _ = own
    counter = ForwardCounter(lab.model)
    try:
        card = lab.feature(int(np.argmax(lab.sae.stats["frequency"].numpy())))
        assert card.card["examples"]["tokens"] and card.card["stats"]["source"] == "folder"
        assert lab.dashboard(card.feature).source == "folder"
        m = lab.map()
        assert m.map.layout_data.method == "umap" and "PCA" not in m.map.notice
        assert len(lab.neighbors(card.feature, k=5)) == 5
        assert lab.explain(card.feature).words is not None
        # search by a word in the vocabulary reads the precomputed table: no forward pass either
        assert len(lab.search("bridge", k=5)) == 5
        assert counter.calls == 0
        lab.heatmap("The dog ran to the bridge.")  # a heatmap encodes its text: that one runs the model
        assert counter.calls > 0
    finally:
        counter.remove()


def test_a_second_process_serves_the_same_card_without_a_forward_pass(own):
    lab, out, model_dir, _ = own
    feature = int(np.argmax(lab.sae.stats["frequency"].numpy()))
    here = lab.feature(feature).card
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        import saewidgets as sw
        from test_prepare import ForwardCounter
        lab = sw.load(model={str(model_dir)!r}, sae={str(out)!r}, device="cpu")
        counter = ForwardCounter(lab.model)
        card = lab.feature({feature}).card
        layout = lab.map().map.layout_data
        print(json.dumps({{"calls": counter.calls, "source": card["stats"]["source"], "tokens": card["examples"]["tokens"],
                          "max": card["stats"]["max"], "layer": lab.layer, "map": layout.method,
                          "neighbors": [n["feature"] for n in card["neighbors"]]}}))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    there = json.loads(run.stdout.strip().splitlines()[-1])
    assert there["calls"] == 0 and there["source"] == "folder" and there["layer"] == LAYER and there["map"] == "umap"
    assert there["tokens"] == here["examples"]["tokens"] and there["max"] == pytest.approx(here["stats"]["max"])
    assert there["neighbors"] == [n["feature"] for n in here["neighbors"]]


def test_with_sae_picks_up_the_prepared_folder(own):
    lab, out, _, _ = own
    again = lab.with_sae(str(out))
    assert again.sae is not lab.sae and again.store.folder == out
    assert again.dashboard(0).source == "folder"


def test_an_interrupted_prepare_resumes_and_gives_the_same_dashboards(own, tmp_path, monkeypatch):
    lab, _, _, _ = own
    sae = lab.sae
    whole = lab.with_sae(_copy(sae)).prepare(TEXTS, tokens=4000, out=tmp_path / "whole", map_layout="pca",
                                             progress=False)

    monkeypatch.setattr(prepare_mod, "CHECKPOINT_S", 0.0)  # checkpoint after every batch
    saved = []
    original = prepare_mod._Checkpoint.save

    def save_then_stop(self, builder, windows_done):
        original(self, builder, windows_done)
        saved.append(windows_done)
        if len(saved) == 1:
            raise KeyboardInterrupt  # the user stops the cell after the first batch

    monkeypatch.setattr(prepare_mod._Checkpoint, "save", save_then_stop)
    part = lab.with_sae(_copy(sae))
    with pytest.raises(KeyboardInterrupt):
        part.prepare(TEXTS, tokens=4000, out=tmp_path / "part", map_layout="pca", progress=False)
    assert (tmp_path / "part" / ".prepare" / "dashboards-state.pt").is_file()
    resumed = part.prepare(TEXTS, tokens=4000, out=tmp_path / "part", map_layout="pca", progress=False)
    assert resumed.resumed_from == saved[0] * 128 > 0
    a = dash.Dashboards.load(tmp_path / "whole" / "dashboards.npz")
    b = dash.Dashboards.load(tmp_path / "part" / "dashboards.npz")
    assert a.meta["tokens"] == b.meta["tokens"] == whole.tokens
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=key)


def test_a_checkpoint_of_other_texts_is_not_resumed(own, tmp_path, monkeypatch, capsys):
    lab, _, _, _ = own
    monkeypatch.setattr(prepare_mod, "CHECKPOINT_S", 0.0)
    first = lab.with_sae(_copy(lab.sae))
    original = prepare_mod._Checkpoint.save

    def stop(self, builder, windows_done):
        original(self, builder, windows_done)
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_mod._Checkpoint, "save", stop)
    with pytest.raises(KeyboardInterrupt):
        first.prepare(TEXTS, tokens=4000, out=tmp_path / "p", map_layout="pca", progress=False)
    monkeypatch.setattr(prepare_mod._Checkpoint, "save", original)
    other = first.prepare(list(reversed(TEXTS)), tokens=4000, out=tmp_path / "p", map_layout="pca", progress=False)
    assert other.resumed_from == 0 and "starting afresh" in capsys.readouterr().out


def test_a_stale_artefact_beside_the_sae_is_refused_with_a_warning(own, tmp_path):
    lab, out, _, _ = own
    other = _copy(lab.sae)
    with torch.no_grad():
        other.W_dec.mul_(-1.0)  # another SAE: another fingerprint
    folder = tmp_path / "mixed"
    other.save(folder)
    (folder / "dashboards.npz").write_bytes((out / "dashboards.npz").read_bytes())  # someone copied the wrong file
    lab2 = lab.with_sae(str(folder))
    with pytest.warns(UserWarning, match="computed for another SAE"):
        found = lab2.store.find(dash.KIND)
    assert found is None


def test_prepare_rejects_bad_arguments(own):
    lab, _, _, _ = own
    with pytest.raises(ValueError, match="tokens must be"):
        lab.prepare(TEXTS, tokens=10)
    with pytest.raises(ValueError, match="map_layout"):
        lab.prepare(TEXTS, tokens=4000, map_layout="tsne")
    with pytest.raises(ValueError, match="not a string"):
        lab.prepare([1, 2, 3], tokens=4000, map_layout="pca", progress=False)


def test_one_store_per_sae_and_it_follows_weight_changes(own):
    lab, _, _, _ = own
    sae = _copy(lab.sae)
    store = store_of(sae)
    assert store_of(sae) is store
    before = store.fingerprint
    with torch.no_grad():
        sae.W_dec[0] += 1.0
    assert store.fingerprint != before  # an in-place edit makes every held artefact stale


def _copy(sae):
    from saewidgets.sae import SAE

    clone = SAE(sae.cfg)
    clone.load_state_dict(sae.state_dict())
    return clone
