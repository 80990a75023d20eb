"""saewidgets.sae: numbers equal to sae-lens 6.x, the file formats, and the errors people meet.

The fixtures in tests/fixtures/saelens were written by the real sae-lens
(tests/fixtures/make_saelens_fixtures.py); this suite does not import sae-lens.
"""

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import saewidgets.sae.hub as sae_hub
from saewidgets.offline import OFFLINE_VARIABLES
from saewidgets.sae import SAE, SAEConfig, SAELoadError, SAEOutput

FIXTURES = Path(__file__).parent / "fixtures" / "saelens"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cfg.json").exists())
D_IN, D_SAE = 16, 64


def load_fixture(name, **kwargs):
    if "norm_expected" in name and "norm_scaling_factor" not in kwargs:
        with pytest.warns(UserWarning, match="expected_average_only_in"):
            return SAE.load(FIXTURES / name, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return SAE.load(FIXTURES / name, **kwargs)


def expected(name):
    return load_file(str(FIXTURES / name / "expected.safetensors"))


def tol(sae):
    return dict(atol=1e-2, rtol=1e-2) if sae.dtype == torch.float16 else dict(atol=1e-5, rtol=1e-5)


def random_sae(arch, dtype="float32", seed=0, **kw):
    sae = SAE.create(D_IN, D_SAE, arch, k=8, hook_name="blocks.2.hook_resid_post",
                     model_name="tiny", dtype=dtype, seed=seed, **kw)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1)
        sae.b_dec.normal_(0, 0.1)
        if sae.threshold is not None:
            sae.threshold.uniform_(0, 0.3)
    return sae


def test_fixtures_present():
    assert {"standard", "topk", "jumprelu", "batchtopk", "standard_no_bdec", "topk_no_bdec",
            "standard_norm_expected_average", "topk_fp16"} <= set(NAMES)


# ---- numbers equal sae-lens


@pytest.mark.parametrize("name", NAMES)
def test_matches_saelens(name):
    sae, exp = load_fixture(name), expected(name)
    with torch.no_grad():
        z = sae.encode(exp["x"])
        out = sae.decode(z)
    assert z.dtype == exp["feature_acts"].dtype and out.dtype == exp["sae_out"].dtype
    torch.testing.assert_close(z, exp["feature_acts"], **tol(sae))
    torch.testing.assert_close(out, exp["sae_out"], **tol(sae))
    # The same active features, not merely close values.
    assert torch.equal(z != 0, exp["feature_acts"] != 0)


@pytest.mark.parametrize("name", NAMES)
def test_forward(name):
    sae, exp = load_fixture(name), expected(name)
    x = exp["x"]
    with torch.no_grad():
        out = sae(x)
    assert isinstance(out, SAEOutput)
    assert out.reconstruction.dtype == x.dtype and out.error.dtype == x.dtype
    torch.testing.assert_close(out.features, exp["feature_acts"], **tol(sae))
    torch.testing.assert_close(out.reconstruction, exp["sae_out"].to(x.dtype), **tol(sae))
    assert torch.equal(out.error, x - out.reconstruction)
    # reconstruction + error gives x back up to the last rounding of the subtraction ...
    torch.testing.assert_close(out.reconstruction + out.error, x, atol=1e-6, rtol=1e-6)
    # ... and an edit expressed as a decoder difference gives x back bit for bit.
    assert torch.equal(x + (sae.decode(out.features).to(x.dtype) - out.reconstruction), x)


def test_configs_read_from_saelens_files():
    cfg = load_fixture("topk").cfg
    assert (cfg.architecture, cfg.k, cfg.d_in, cfg.d_sae) == ("topk", 8, D_IN, D_SAE)
    assert cfg.hook_name == "blocks.3.hook_resid_post" and cfg.layer == 3
    assert cfg.model_name == "tiny-model" and cfg.metadata["context_size"] == 128
    assert load_fixture("standard").cfg.architecture == "relu"  # SAELens' "standard"
    assert load_fixture("topk_no_bdec").cfg.apply_b_dec_to_input is False
    assert load_fixture("topk_rescale").cfg.rescale_acts_by_decoder_norm is True
    assert load_fixture("topk_fp16").dtype == torch.float16
    # sae-lens saves BatchTopK for inference as JumpReLU + metadata; we read it back as such.
    btk = load_fixture("batchtopk")
    assert btk.cfg.architecture == "batchtopk" and btk.cfg.k == 4.0
    assert torch.all(btk.threshold == 0.25)


def test_expected_average_only_in_scaling_factor(tmp_path):
    name, f = "standard_norm_expected_average", 2.5
    raw = load_fixture(name)  # no factor known: raw activations, like sae-lens' load_from_disk
    assert raw.cfg.normalize_activations == "expected_average_only_in"
    folded = load_fixture(name, norm_scaling_factor=f)
    assert folded.cfg.normalize_activations == "none"
    x = expected(name)["x"]
    with torch.no_grad():
        # The SAE was trained on x·f: encode sees x·f, and decode maps back to x's scale.
        torch.testing.assert_close(folded.encode(x), raw.encode(x * f))
        torch.testing.assert_close(folded(x).reconstruction, raw(x * f).reconstruction / f)
    # A sae-lens training checkpoint stores the factor beside the weights.
    shutil.copytree(FIXTURES / name, tmp_path / "ckpt")
    (tmp_path / "ckpt" / "activation_scaler.json").write_text(json.dumps({"scaling_factor": f}))
    from_ckpt = SAE.load(tmp_path / "ckpt")
    assert torch.equal(from_ckpt.W_enc, folded.W_enc)
    assert from_ckpt.cfg.normalize_activations == "none"


def test_pre_6_saelens_config(tmp_path):
    shutil.copy(FIXTURES / "topk" / "sae_weights.safetensors", tmp_path)
    (tmp_path / "cfg.json").write_text(json.dumps({
        "d_in": D_IN, "d_sae": D_SAE, "dtype": "torch.float32",
        "hook_point": "blocks.3.hook_resid_post",
        "model_name": "tiny-model", "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 8},
        "apply_b_dec_to_input": True, "normalize_activations": False}))
    sae, exp = SAE.load(tmp_path), expected("topk")
    assert sae.cfg.architecture == "topk" and sae.cfg.hook_name == "blocks.3.hook_resid_post"
    torch.testing.assert_close(sae.encode(exp["x"]), exp["feature_acts"])


# ---- topk and the sparse path


def test_topk_keeps_exactly_k():
    sae = random_sae("topk")
    with torch.no_grad():
        sae.b_enc.fill_(10.0)  # every pre-activation positive: exactly k survive
    z = sae.encode(torch.randn(7, 5, D_IN))
    assert torch.all((z != 0).sum(-1) == 8)
    z = random_sae("topk").encode(torch.randn(50, D_IN))
    assert torch.all((z != 0).sum(-1) <= 8) and torch.all(z >= 0)


@pytest.mark.parametrize("arch", ["topk", "relu", "jumprelu", "batchtopk"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_encode_sparse_matches_dense(arch, dtype):
    sae = random_sae(arch, dtype)
    x = torch.randn(3, 4, D_IN)
    with torch.no_grad():
        z = sae.encode(x)
        values, indices = sae.encode_sparse(x)
        dense = torch.zeros_like(z).scatter_(-1, indices, values)
        assert torch.equal(dense, z)
        assert torch.all(values[..., :-1] >= values[..., 1:])  # largest first
        t = dict(atol=2e-2, rtol=2e-2) if dtype == "bfloat16" else {}
        torch.testing.assert_close(sae.decode_sparse(values, indices), sae.decode(z), **t)


def test_decode_sparse_rescaled_topk():
    sae = load_fixture("topk_rescale")
    x = expected("topk_rescale")["x"]
    with torch.no_grad():
        torch.testing.assert_close(sae.decode_sparse(*sae.encode_sparse(x)),
                                   expected("topk_rescale")["sae_out"])


# ---- saving


@pytest.mark.parametrize("arch", ["topk", "relu", "jumprelu", "batchtopk"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_save_load_round_trip(tmp_path, arch, dtype):
    sae = random_sae(arch, dtype, apply_b_dec_to_input=(arch != "relu"))
    sae.stats = {"max_activation": torch.rand(D_SAE) * 5, "frequency": torch.rand(D_SAE),
                 "mean_activation": torch.rand(D_SAE)}
    sae.save(tmp_path / "sae")
    assert (tmp_path / "sae" / "feature_stats.safetensors").exists()
    assert all(v.dtype == getattr(torch, dtype)
               for v in load_file(str(tmp_path / "sae" / "sae_weights.safetensors")).values())
    back = SAE.load(tmp_path / "sae")
    assert back.cfg == sae.cfg
    assert back.state_dict().keys() == sae.state_dict().keys()
    assert all(torch.equal(back.state_dict()[k], v) for k, v in sae.state_dict().items())
    assert back.stats.keys() == sae.stats.keys()
    assert all(torch.equal(back.stats[k], v) for k, v in sae.stats.items())
    x = torch.randn(4, D_IN)
    assert torch.equal(back.encode(x), sae.encode(x))


def test_saved_cfg_is_saelens_6(tmp_path):
    cfg = json.loads(random_sae("topk").save(tmp_path / "t").joinpath("cfg.json").read_text())
    assert {"architecture", "d_in", "d_sae", "dtype", "device", "apply_b_dec_to_input",
            "normalize_activations", "reshape_activations", "metadata", "k",
            "rescale_acts_by_decoder_norm"} <= cfg.keys()
    assert cfg["metadata"]["hook_name"] == "blocks.2.hook_resid_post"
    assert cfg["metadata"]["model_name"] == "tiny"
    assert cfg["metadata"]["sae_lens_version"].startswith("6.")
    relu = json.loads(random_sae("relu").save(tmp_path / "r").joinpath("cfg.json").read_text())
    assert relu["architecture"] == "standard"
    btk = json.loads(random_sae("batchtopk").save(tmp_path / "b").joinpath("cfg.json").read_text())
    assert btk["architecture"] == "jumprelu"
    assert btk["metadata"]["training_architecture"] == "batchtopk"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_resave_round_trip(tmp_path, name):
    sae = load_fixture(name, norm_scaling_factor=1.0) if "norm" in name else load_fixture(name)
    back = SAE.load(sae.save(tmp_path / name))
    assert back.cfg == sae.cfg and back.dtype == sae.dtype
    assert all(torch.equal(back.state_dict()[k], v) for k, v in sae.state_dict().items())


def test_stale_stats_removed(tmp_path):
    sae = random_sae("topk")
    sae.stats = {"frequency": torch.rand(D_SAE)}
    sae.save(tmp_path)
    sae.stats = None
    sae.save(tmp_path)
    assert SAE.load(tmp_path).stats is None


def test_load_dtype_and_device():
    sae = SAE.load(FIXTURES / "topk", device="cpu", dtype=torch.float16)
    assert sae.dtype == torch.float16 and sae.cfg.dtype == "float16"
    assert SAE.load(FIXTURES / "topk" / "cfg.json").cfg.k == 8  # a file inside the folder


def test_create_and_aliases():
    assert SAE.create(D_IN, D_SAE, "standard").cfg.architecture == "relu"
    assert SAE.create(D_IN, D_SAE, "relu").cfg.k is None
    sae = SAE.create(D_IN, D_SAE, seed=1)
    assert sae.cfg.architecture == "topk" and sae.cfg.k == 32
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(D_SAE))
    assert torch.equal(SAE.create(D_IN, D_SAE, seed=1).W_enc, sae.W_enc)  # seeded
    with pytest.raises(ValueError, match="needs k"):
        SAE.create(D_IN, D_SAE, "topk", k=None)


# ---- other formats


def write_sparsify(folder: Path, num_latents=D_SAE, k=4):
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(3)
    weights = {"encoder.weight": torch.randn(D_SAE, D_IN, generator=g) / 4,
               "encoder.bias": torch.randn(D_SAE, generator=g) * 0.1,
               "W_dec": torch.randn(D_SAE, D_IN, generator=g),
               "b_dec": torch.randn(D_IN, generator=g) * 0.1}
    save_file(weights, str(folder / "sae.safetensors"))
    cfg = {"activation": "topk", "expansion_factor": D_SAE // D_IN, "normalize_decoder": True,
           "num_latents": num_latents if num_latents else 0, "k": k, "multi_topk": False,
           "skip_connection": False, "transcode": False, "d_in": D_IN}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return weights


@pytest.mark.parametrize("num_latents", [D_SAE, 0])  # 0: sparsify derives it from expansion_factor
def test_sparsify(tmp_path, num_latents):
    (tmp_path / "config.json").write_text(json.dumps({"model": "EleutherAI/pythia-70m"}))
    w = write_sparsify(tmp_path / "layers.5", num_latents)
    sae = SAE.load(tmp_path / "layers.5")
    assert (sae.cfg.architecture, sae.cfg.k, sae.cfg.d_sae) == ("topk", 4, D_SAE)
    assert sae.cfg.hook_name == "blocks.5.hook_resid_post"
    assert sae.cfg.model_name == "EleutherAI/pythia-70m"
    # sparsify's own computation: ReLU(encoder(x - b_dec)), top-k, sum of decoder rows + b_dec.
    x = torch.randn(6, D_IN)
    pre = torch.relu((x - w["b_dec"]) @ w["encoder.weight"].T + w["encoder.bias"])
    vals, idx = pre.topk(4)
    want = (vals[..., None] * w["W_dec"][idx]).sum(-2) + w["b_dec"]
    with torch.no_grad():
        torch.testing.assert_close(sae(x).reconstruction, want)
        v, i = sae.encode_sparse(x)
        torch.testing.assert_close(v, vals)
        assert torch.equal(i, idx)


def test_sparsify_transcoder_refused(tmp_path):
    write_sparsify(tmp_path / "layers.1")
    cfg = json.loads((tmp_path / "layers.1" / "cfg.json").read_text())
    (tmp_path / "layers.1" / "cfg.json").write_text(json.dumps({**cfg, "transcode": True}))
    with pytest.raises(SAELoadError, match="transcoder"):
        SAE.load(tmp_path / "layers.1")


def write_gemma_scope(folder: Path):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    params = {"W_enc": rng.normal(size=(D_IN, D_SAE)).astype(np.float32) / 4,
              "W_dec": rng.normal(size=(D_SAE, D_IN)).astype(np.float32),
              "b_enc": rng.normal(size=D_SAE).astype(np.float32) * 0.1,
              "b_dec": rng.normal(size=D_IN).astype(np.float32) * 0.1,
              "threshold": rng.uniform(0, 0.3, size=D_SAE).astype(np.float32)}
    np.savez(folder / "params.npz", **params)
    return {k: torch.from_numpy(v) for k, v in params.items()}


def test_gemma_scope(tmp_path):
    folder = tmp_path / "layer_7" / "width_16k" / "average_l0_50"
    p = write_gemma_scope(folder)
    for path in (folder, folder / "params.npz"):
        sae = SAE.load(path)
        assert sae.cfg.architecture == "jumprelu" and not sae.cfg.apply_b_dec_to_input
        assert sae.cfg.hook_name == "blocks.7.hook_resid_post"
        # Gemma Scope's reference: JumpReLU on x @ W_enc + b_enc (no b_dec subtracted).
        x = torch.randn(5, D_IN)
        pre = x @ p["W_enc"] + p["b_enc"]
        z = pre * (pre > p["threshold"])
        with torch.no_grad():
            torch.testing.assert_close(sae.encode(x), z)
            torch.testing.assert_close(sae.decode(sae.encode(x)), z @ p["W_dec"] + p["b_dec"])


def test_gemma_scope_never_unpickles(tmp_path):
    np.savez(tmp_path / "params.npz", W_enc=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(SAELoadError, match="params.npz"):
        SAE.load(tmp_path)


# ---- errors people meet


def test_pickled_file_refused(tmp_path):
    torch.save(random_sae("topk").state_dict(), tmp_path / "sae.pt")
    for path in (tmp_path / "sae.pt", tmp_path):
        with pytest.raises(SAELoadError, match="pickled weights are refused") as e:
            SAE.load(path)
        assert isinstance(e.value, ValueError)
        assert "torch.load" in str(e.value) and "save" in str(e.value)


def test_pickled_weights_beside_cfg(tmp_path):
    random_sae("topk").save(tmp_path)
    (tmp_path / "sae_weights.safetensors").unlink()
    torch.save({}, tmp_path / "sae_weights.bin")
    with pytest.raises(SAELoadError, match="sae_weights.safetensors is missing.*pickled"):
        SAE.load(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_safetensors(tmp_path, damage):
    random_sae("topk").save(tmp_path)
    f = tmp_path / "sae_weights.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 10)
    with pytest.raises(SAELoadError, match="sae_weights.safetensors.*(truncated|corrupt)"):
        SAE.load(tmp_path)


def test_missing_files(tmp_path):
    random_sae("relu").save(tmp_path / "a")
    (tmp_path / "a" / "sae_weights.safetensors").unlink()
    with pytest.raises(SAELoadError, match="sae_weights.safetensors is missing"):
        SAE.load(tmp_path / "a")
    with pytest.raises(SAELoadError, match="does not exist"):
        SAE.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SAELoadError, match="cfg.json.*sae_weights.safetensors.*params.npz"):
        SAE.load(tmp_path / "empty")


def test_unknown_architecture(tmp_path):
    random_sae("relu").save(tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "architecture": "gated"}))
    with pytest.raises(SAELoadError, match="'gated'.*topk, batchtopk, relu, jumprelu"):
        SAE.load(tmp_path)
    with pytest.raises(ValueError, match="unknown SAE architecture 'matryoshka'"):
        SAEConfig(D_IN, D_SAE, "matryoshka")


def test_unsupported_normalization(tmp_path):
    random_sae("relu").save(tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "normalize_activations": "layer_norm"}))
    with pytest.raises(SAELoadError, match="'layer_norm'.*none, expected_average_only_in"):
        SAE.load(tmp_path)


def test_shape_mismatch(tmp_path):
    random_sae("topk").save(tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "d_sae": 32}))
    with pytest.raises(SAELoadError, match="W_enc has shape"):
        SAE.load(tmp_path)


def test_check_width():
    sae = random_sae("topk")
    sae.check_width(D_IN)
    with pytest.raises(ValueError, match=r"d_in=16.*576"):
        sae.check_width(576)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))


@pytest.fixture
def downloads_on(monkeypatch):
    """No offline variable set; the test replaces snapshot_download, so nothing goes out."""
    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def assert_offline_error(err, *words):
    msg = str(err)
    assert msg.startswith("offline:"), msg
    assert "local path" in msg and "default SAE" in msg
    assert all(w in msg for w in words), msg
    assert err.__cause__ is None and err.__suppress_context__  # no hub traceback underneath


def test_from_pretrained_offline(offline):
    with pytest.raises(SAELoadError) as e:
        SAE.from_pretrained("someone/some-saes", "layer_3")
    assert_offline_error(e.value, "someone/some-saes/layer_3", "(HF_HUB_OFFLINE=1)",
                         "unset HF_HUB_OFFLINE")
    with pytest.raises(SAELoadError) as e:
        SAE.from_pretrained("some/repo")
    assert_offline_error(e.value, "SAE some/repo is not on this machine", "downloads are off")


def test_from_pretrained_release_lookup(offline, monkeypatch):
    table = {"tiny-release": {"repo_id": "org/tiny-saes", "model": "tiny",
                              "saes": [{"id": "blocks.3", "path": "layer_3/width_64"}]}}
    monkeypatch.setattr(sae_hub, "saelens_releases", lambda: table)
    with pytest.raises(SAELoadError, match="'blocks.9' is not in SAELens release.*blocks.3"):
        SAE.from_pretrained("tiny-release", "blocks.9")
    with pytest.raises(SAELoadError) as e:
        SAE.from_pretrained("tiny-release", "blocks.3")
    assert_offline_error(e.value, "org/tiny-saes/layer_3/width_64")


def test_from_pretrained_connection_error(downloads_on, monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise ConnectionError("Max retries exceeded with url")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(SAELoadError) as e:
        SAE.from_pretrained("someone/some-saes", "layer_3")
    assert_offline_error(e.value, "could not be reached")


def test_from_pretrained_unknown_repo(downloads_on, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    class NotFound(RepositoryNotFoundError):
        def __init__(self):  # the real one wants an HTTP response
            Exception.__init__(self, "404 Repository Not Found")

    def missing(*args, **kwargs):
        raise NotFound()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    with pytest.raises(SAELoadError, match="^SAE someone/no-such-saes/layer_3 was not found on "
                                           "the Hugging Face Hub.*private or gated") as e:
        SAE.from_pretrained("someone/no-such-saes", "layer_3")
    assert "local path" in str(e.value) and e.value.__cause__ is None


def test_from_pretrained_cached_and_local(monkeypatch, tmp_path):
    (tmp_path / "repo").mkdir()
    shutil.copytree(FIXTURES / "topk", tmp_path / "repo" / "layer_3")
    monkeypatch.setattr("huggingface_hub.snapshot_download",
                        lambda repo_id, **kw: str(tmp_path / "repo"))
    sae = SAE.from_pretrained("someone/some-saes", "layer_3")
    assert sae.cfg.k == 8 and sae.cfg.metadata["source"] == "someone/some-saes:layer_3"
    assert SAE.from_pretrained(str(FIXTURES / "jumprelu")).cfg.architecture == "jumprelu"
