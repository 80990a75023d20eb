"""The command line: ``python -m saewidgets prepare|train|evaluate`` on a tiny model saved to a folder.

The jobs run in subprocesses (one, and two under ``torchrun`` with gloo: the same arrays); errors are one line on
stderr with a non-zero exit status and no traceback. A small launcher shrinks the explanation vocabulary (8,000
words make the search table the slowest stage on a tiny model) and then calls ``saewidgets.cli.main``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from saewidgets import cli

from conftest import random_sae, save_tiny_model

LAUNCHER = textwrap.dedent("""
    import sys
    import saewidgets.analysis.explain as explain
    explain.N_WORDS = 300  # the tests' vocabulary: a small search table
    from saewidgets.cli import main
    sys.exit(main())
""")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    save_tiny_model(root / "model", "llama", seed=1)
    random_sae(d_sae=64, k=4, layer=1, with_stats=False).save(root / "sae")
    lines = [f"Document {i}: the quick brown fox {i % 7} jumps over {i * 13 % 101} lazy dogs; "
             f"the river {i % 5} flows under the bridge.\n\n" for i in range(200)]
    (root / "texts.txt").write_text("".join(lines))
    (root / "launch.py").write_text(LAUNCHER)
    return root


def run(root, *args, nproc: int = 1):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    launch = [sys.executable, str(root / "launch.py")]
    if nproc > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                  str(root / "launch.py")]
    return subprocess.run([*launch, *map(str, args)], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def prepare_args(out):
    return ["prepare", "--model", "model", "--sae", "sae", "--texts", "texts.txt", "--tokens", 3000,
            "--out", out, "--map", "pca", "--device", "cpu"]


@pytest.fixture(scope="module")
def prepared(job):
    one = run(job, *prepare_args("one"), "--log-file", "one.log")
    two = run(job, *prepare_args("two"), "--quiet", "--log-file", "two.log", nproc=2)
    return one, two


def test_prepare_writes_the_folder_and_a_log(job, prepared):
    one, _ = prepared
    assert one.returncode == 0, one.stderr[-3000:]
    assert "Prepared(" in one.stdout and "prepare: dashboards" in one.stderr  # result on stdout, progress on stderr
    assert "Traceback" not in one.stderr
    names = {p.name for p in (job / "one").iterdir()}
    assert {"cfg.json", "dashboards.npz", "explanations.npz", "coactivation.npz", "prepare.json"} <= names
    events = [json.loads(line) for line in (job / "one.log").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "done"] and events[1]["result"]["tokens"] >= 2500


def test_two_processes_under_torchrun_write_the_same_arrays(job, prepared):
    _, two = prepared
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("Prepared(") == 1  # rank 0 alone reports (and writes)
    for name in ("dashboards.npz", "coactivation.npz", "explanations.npz"):
        a, b = np.load(job / "one" / name), np.load(job / "two" / name)
        assert set(a.files) == set(b.files)
        for key in a.files:
            if key in ("header", "meta"):   # JSON headers: the same but for the seconds taken
                ha, hb = (json.loads(str(x[key])) for x in (a, b))
                assert {**ha, "seconds": 0} == {**hb, "seconds": 0}
            else:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    assert not (job / "two" / ".prepare").exists()  # every rank's checkpoint is gone


def test_train_then_resume_and_evaluate(job, capsys, monkeypatch):
    """In this process (``cli.main``, what ``python -m saewidgets`` runs): a subprocess costs seconds of imports."""
    monkeypatch.chdir(job)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and CI's cores are shared
    try:
        _train_resume_evaluate(job, capsys)
    finally:
        torch.set_num_threads(threads)


def _train_resume_evaluate(job, capsys):
    args = ["train", "--model", "model", "--layer", "1", "--texts", "texts.txt", "--d-sae", "64", "-k", "4",
            "--tokens", str(256 * 200), "--activation-tokens", "4096", "--batch-size", "256", "--out", "trained",
            "--keep-activations", "--log", "train.log", "--device", "cpu"]
    assert cli.main(args) == 0
    assert (job / "trained" / "cfg.json").exists() and (job / "trained" / ".train" / "trainer.pt").exists()
    rows = [json.loads(line) for line in (job / "train.log").read_text().splitlines()]
    assert sum("step" in r for r in rows) == 20 and rows[-1]["event"] == "done"  # metrics every 10 steps
    # a finished job is not redone
    capsys.readouterr()
    assert cli.main(args) == 0 and "already trained" in capsys.readouterr().out
    # an interrupted one resumes: the checkpoint holds all 200 steps, so no step runs again
    (job / "trained" / "cfg.json").unlink()
    weights = (job / "trained" / "sae_weights.safetensors").read_bytes()
    assert cli.main(args) == 0
    assert (job / "trained" / "sae_weights.safetensors").read_bytes() == weights
    rows = [json.loads(line) for line in (job / "train.log").read_text().splitlines()]
    assert sum("step" in r for r in rows) == 20
    assert cli.main(["evaluate", "--model", "model", "--sae", "trained", "--texts", "texts.txt", "--tokens", "2000",
                     "--out", "eval.json", "--quiet", "--device", "cpu"]) == 0
    scores = json.loads((job / "eval.json").read_text())
    assert {"l0", "fvu", "ce_loss_recovered", "kl_div"} <= set(scores)


@pytest.mark.parametrize("args, says", [
    (["prepare", "--model", "model", "--sae", "sae", "--texts", "no-such-file.txt", "--out", "x"], "does not exist"),
    (["prepare", "--model", "./no-such-model", "--out", "x"], "no such file or folder"),
    (["evaluate", "--model", "nobody/no-such-model-anywhere"], "offline"),
    (["train", "--model", "model", "--out", "x"], "--layer"),
])
def test_errors_are_one_line_and_a_non_zero_status(job, capsys, monkeypatch, args, says):
    monkeypatch.chdir(job)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main([*args, "--quiet", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and err.startswith(f"saewidgets {args[0]}: error:")


def test_every_option_passes_through_torchrun():
    """torchrun's parser stops at an option that abbreviates several of its own (``--log``: --log-dir,
    --logs-specs), even after the script; every option of ours (but the ``--log`` alias) must get through."""
    from torch.distributed.run import get_args_parser

    ours = {o for sub in cli.parser()._subparsers._group_actions[0].choices.values() for a in sub._actions
            for o in a.option_strings if o.startswith("--")}
    torchrun = get_args_parser()
    torchrun.exit_on_error = False
    torchrun.error = lambda message: (_ for _ in ()).throw(ValueError(message))
    bad = []
    for option in sorted(ours - {"--log"}):
        try:
            torchrun._parse_optional(option)
        except ValueError:
            bad.append(option)
    assert bad == []


def test_a_bad_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--layer", "1"])     # --out is missing
    assert exit_.value.code == 2 and "--out" in capsys.readouterr().err
