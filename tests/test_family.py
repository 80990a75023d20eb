"""Feature families across widths, on tiny SAEs whose right answer is known by construction: a dictionary,
a wider copy in which some features split into two or three nearby directions, and a still wider copy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import D_MODEL, random_sae, no_hooks_left
from saewidgets.analysis.family import CHILD_COSINE, Family, best_match, random_rotation

N_PARENTS = 12


def _split_copy(parent_rows: torch.Tensor, splits: dict[int, int], seed: int, spread: float = 0.35):
    """Rows of a wider dictionary: parent p becomes ``splits.get(p, 1)`` rows near it (cosine about 0.9);
    returns the rows and each row's parent."""
    g = torch.Generator().manual_seed(seed)
    rows, owner = [], []
    for p, row in enumerate(parent_rows):
        for _ in range(splits.get(p, 1)):
            noise = torch.randn(len(row), generator=g)
            noise -= (noise @ row) * row
            child = row + spread * noise / noise.norm()
            rows.append(child / child.norm())
            owner.append(p)
    order = torch.randperm(len(rows), generator=g)  # ids carry no hint of the parent
    return torch.stack(rows)[order], np.array(owner)[order.numpy()]


@pytest.fixture
def family_labs(tiny_lab):
    narrow = random_sae(d_sae=N_PARENTS, k=4, seed=1)
    base = narrow.W_dec.detach().clone()
    mid_rows, mid_owner = _split_copy(base, {0: 2, 3: 3, 7: 2}, seed=2)          # 12 -> 16 features
    wide_rows, wide_owner = _split_copy(mid_rows, {int(i): 2 for i in range(0, 16, 2)}, seed=3, spread=0.2)
    mid, wide = random_sae(d_sae=len(mid_rows), k=4, seed=4), random_sae(d_sae=len(wide_rows), k=4, seed=5)
    with torch.no_grad():
        mid.W_dec.copy_(mid_rows)
        mid.W_enc.copy_(mid_rows.T)
        wide.W_dec.copy_(wide_rows)
        wide.W_enc.copy_(wide_rows.T)
    labs = {"narrow": tiny_lab.with_sae(narrow), "mid": tiny_lab.with_sae(mid), "wide": tiny_lab.with_sae(wide)}
    return labs, mid_owner, wide_owner


def test_best_match_finds_each_row_in_a_shuffled_copy():
    rows = torch.nn.functional.normalize(torch.randn(50, D_MODEL), dim=1)
    perm = torch.randperm(50)
    ids, cos = best_match(rows, rows[perm], chunk=7)
    assert np.array_equal(perm[ids].numpy(), np.arange(50))
    assert np.allclose(cos, 1.0, atol=1e-5)


def test_random_rotation_is_orthogonal_and_breaks_alignment():
    q = random_rotation(D_MODEL, seed=3)
    assert torch.allclose(q @ q.T, torch.eye(D_MODEL), atol=1e-5)
    rows = torch.nn.functional.normalize(torch.randn(200, D_MODEL), dim=1)
    _, cos = best_match(rows, rows @ q)
    assert np.median(cos) < 0.9  # the same geometry, no longer the same directions


def test_children_are_exactly_the_constructed_split(family_labs):
    labs, mid_owner, wide_owner = family_labs
    fam = Family([("wide", labs["wide"]), ("narrow", labs["narrow"]), ("mid", labs["mid"])])
    assert fam.names == ["narrow", "mid", "wide"]  # sorted by width
    for p in range(N_PARENTS):
        ids, cos = fam.children(0, p)
        assert sorted(ids.tolist()) == sorted(np.nonzero(mid_owner == p)[0].tolist())
        assert (cos >= CHILD_COSINE).all() and list(cos) == sorted(cos, reverse=True)
    parents, _ = fam.best_in(2, 1)
    assert np.array_equal(parents, wide_owner)
    splits = [p for p in range(N_PARENTS) if len(fam.children(0, p)[0]) >= 2]
    assert splits == [0, 3, 7]


def test_tree_of_a_split_feature(family_labs):
    labs, mid_owner, wide_owner = family_labs
    fam = Family([("narrow", labs["narrow"]), ("mid", labs["mid"]), ("wide", labs["wide"])])
    df = fam.frame(0, 3)
    assert df.relation.iloc[0] == "self" and df.feature.iloc[0] == 3
    children = df[df.relation == "child"]
    assert sorted(children.feature) == sorted(np.nonzero(mid_owner == 3)[0].tolist())
    assert (children.parent == 3).all() and (children.sae == "mid").all()
    grand = df[df.relation == "grandchild"]
    expected = [g for g in range(len(wide_owner)) if mid_owner[wide_owner[g]] == 3]
    assert sorted(grand.feature) == sorted(expected)
    assert set(grand.parent) <= set(children.feature)
    # from the middle width the tree goes up to the narrow parent and down to the wide children
    f = int(np.nonzero(mid_owner == 7)[0][0])
    df = fam.frame(1, f)
    assert list(df.relation[:2]) == ["ancestor", "self"] and df.feature.iloc[0] == 7
    assert df.cosine.iloc[1] > 0.8 and np.isnan(df.cosine.iloc[0])
    assert sorted(df[df.relation == "child"].feature) == np.nonzero(wide_owner == f)[0].tolist()


def test_max_children_counts_the_rest(family_labs):
    labs, mid_owner, _ = family_labs
    fam = Family([("narrow", labs["narrow"]), ("mid", labs["mid"])])
    nodes = fam.tree(0, 3, max_children=1)
    assert len(nodes) == 2 and nodes[0].hidden_children == (mid_owner == 3).sum() - 1


def test_no_child_above_the_threshold_shows_the_closest(family_labs):
    labs, _, _ = family_labs
    fam = Family([("narrow", labs["narrow"]), ("mid", labs["mid"])])
    df = fam.frame(0, 0, min_cosine=0.999)
    assert list(df.relation) == ["self", "closest"]


def test_bad_families_get_clear_errors(family_labs, tiny_lab):
    labs, _, _ = family_labs
    with pytest.raises(ValueError, match="at least two widths"):
        Family([("narrow", labs["narrow"])])
    with pytest.raises(ValueError, match="same width"):
        Family([("a", labs["narrow"]), ("b", tiny_lab.with_sae(random_sae(d_sae=N_PARENTS, seed=9)))])
    with pytest.raises(ValueError, match="same hook point"):
        Family([("a", labs["narrow"]), ("b", tiny_lab.with_sae(random_sae(d_sae=20, layer=1)))])
    fam = Family([("narrow", labs["narrow"]), ("mid", labs["mid"])])
    with pytest.raises(Exception, match="feature"):
        fam.tree(0, N_PARENTS)
    with pytest.raises(ValueError, match="no SAE 'huge'"):
        fam.index("huge")


def test_lab_family_with_explicit_widths(family_labs):
    labs, mid_owner, _ = family_labs
    lab = labs["narrow"]
    df = lab.family(3, widths=[labs["wide"], labs["mid"]])
    assert list(df.width.unique()) == [N_PARENTS, 16, labs["wide"].sae.d_sae]
    assert sorted(df[df.relation == "child"].feature) == np.nonzero(mid_owner == 3)[0].tolist()
    assert lab.feature_family([labs["wide"], labs["mid"]]) is lab.feature_family([labs["wide"], labs["mid"]])
    with pytest.raises(ValueError, match="no shipped family"):
        lab.family(3)
    assert no_hooks_left(lab.model)


def test_matching_follows_weights_changed_in_place(family_labs):
    labs, mid_owner, _ = family_labs
    fam = Family([("narrow", labs["narrow"]), ("mid", labs["mid"])])
    before = fam.children(0, 3)[0]
    mid = labs["mid"].sae
    with torch.no_grad():  # move one of 3's children onto parent 5
        mid.W_dec[int(before[0])] = labs["narrow"].sae.W_dec[5]
    assert int(before[0]) in fam.children(0, 5)[0].tolist()


def test_family_view_sends_the_tree_and_opens_cards(family_labs):
    labs, mid_owner, _ = family_labs
    texts = ["The cat sat on the mat, and the dog sat by the door. " * 6, "Numbers 1 2 3 and letters a b c. " * 6]
    for lab in labs.values():  # dashboards from a few texts, kept in each SAE's store
        lab.dashboard(0, texts=texts, tokens=2000, progress=False)
    lab = labs["narrow"]
    view = lab.family_view(3, widths=[labs["mid"], labs["wide"]])
    frame = lab.family(3, widths=[labs["mid"], labs["wide"]])
    tree = view.tree.tree
    assert [n["feature"] for n in tree["nodes"]] == frame.feature.tolist()
    assert [s["width"] for s in tree["saes"]] == [N_PARENTS, 16, labs["wide"].sae.d_sae]
    assert all(isinstance(tok, str) for n in tree["nodes"] for ex in n["examples"] for tok in ex["tokens"])
    assert view.card_box.children[0] is view.card(0) and view.card(0).feature == 3
    child = int(frame[frame.relation == "child"].feature.iloc[0])
    view.tree.selected = {"member": 1, "feature": child}  # what a click in the browser sets
    assert view.card_box.children[0] is view.card(1) and view.card(1).feature == child
    assert view.card_title.value == f"Card: #{child} of SAE (16) (16 latents)"
    view.tree._on_request(None, {"type": "root", "member": 1, "feature": child}, [])  # the ⟲ button
    assert view.tree.tree["query"] == {"member": 1, "feature": child}
    assert view.tree.tree["nodes"][0]["relation"] == "ancestor" and view.tree.tree["nodes"][0]["feature"] == 3
    view.tree._on_request(None, {"type": "root", "member": 1, "feature": 999}, [])
    assert "could not show" in view.tree.error and view.tree.tree["query"]["feature"] == child
    assert no_hooks_left(lab.model)


def test_map_switches_width_to_the_best_match(family_labs):
    from saewidgets.widgets.feature_map import MapExplorer

    labs, mid_owner, _ = family_labs
    texts = ["The cat sat on the mat, and the dog sat by the door. " * 6]
    for lab in labs.values():
        lab.dashboard(0, texts=texts, tokens=1000, progress=False)
    fam = labs["narrow"].feature_family([labs["mid"], labs["wide"]])
    m = MapExplorer(labs["narrow"], family=fam, layout="pca", progress=False)
    assert m.width_switch.options == ((f"{N_PARENTS:,} latents", 0), ("16 latents", 1),
                                      (f"{labs['wide'].sae.d_sae:,} latents", 2))
    m.feature = 3
    m.width_switch.value = 1
    assert m.map.d_sae == 16 and m.feature in np.nonzero(mid_owner == 3)[0]
    assert m.card.feature == m.feature and m.map.feature == m.feature
    m.width_switch.value = 0
    assert m.feature == 3 and m.map.d_sae == N_PARENTS  # back to the parent, the same map object
    m.map.feature = 5  # a click on the map still moves the container and its card
    assert m.feature == 5 and m.card.feature == 5
    m.width_switch.value = 1
    assert m.feature == int(fam.best_in(0, 1)[0][5])


def test_examples_check_reads_the_parent_on_the_childs_top_examples(family_labs):
    labs, mid_owner, _ = family_labs
    texts = ["The cat sat on the mat, and the dog sat by the door. " * 6, "Numbers 1 2 3 and letters a b c. " * 6]
    for lab in labs.values():
        lab.dashboard(0, texts=texts, tokens=2000, progress=False)
    df = labs["narrow"].family(3, widths=[labs["mid"]], examples=True)
    assert np.isnan(df.parent_fires.iloc[0])  # the root has no parent
    child = df[df.relation == "child"].iloc[0]
    ctx_child, ctx_parent = labs["mid"], labs["narrow"]
    # by hand: each top example as text, through lab.encode of both SAEs, read at its centre token
    a = ctx_child.store.find(__import__("saewidgets.analysis.dashboards", fromlist=["KIND"]).KIND)[0].arrays
    f = int(child.feature)
    keep = np.nonzero(a["top_value"][f] > 0)[0][:10]
    parent_hits = child_hits = 0
    for i in keep:
        text = ctx_child.tokenizer.decode(a["top_tokens"][f][i].tolist())
        centre = int(a["top_center"][f][i]) + 1  # after the BOS that encode puts first
        parent_hits += float(ctx_parent.encode(text).values[centre, 3]) > 0
        child_hits += float(ctx_child.encode(text).values[centre, f]) > 0
    assert child.parent_fires == pytest.approx(parent_hits / len(keep))
    assert child.self_fires == pytest.approx(child_hits / len(keep))
    assert child.self_fires > 0
