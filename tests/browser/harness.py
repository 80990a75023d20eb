"""Drive a real JupyterLab in Debian's Chromium: start a server, open a notebook, run it, read the kernel.

Reusable by every view's browser tests (fixtures in conftest.py):

    nb = open_notebook("heatmap.ipynb", ["from saewidgets.widgets import heatmap", "w = heatmap(lab, 'Hi'); w"])
    nb.run_all()
    nb.cell(1).locator(".saew-heatmap").wait_for()
    assert nb.kernel("print(w.feature)") == "None"
    nb.screenshot("heatmap", nb.cell(1))

The server runs on 127.0.0.1 with no token, in a temporary root, with its own Jupyter config, data and
settings folders so nothing from the user's setup (kernels, workspaces, news pop-ups) leaks in. The
page is driven through ``window.jupyterapp`` (``--LabApp.expose_app_in_browser``): commands and the
notebook model instead of guessing at menus and pixels.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]

# JupyterLab settings for tests: no news or update requests, every cell in the DOM (no windowing).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class JupyterServer:
    """A JupyterLab (or Notebook 7) server in a private temporary home; ``root`` is where notebooks go."""

    def __init__(self, home: Path, startup_timeout: float = 90, *, python: str | None = None,
                 source_on_path: bool = True, app: str = "lab"):
        # python/source_on_path: another environment's Jupyter (an installed wheel, with no source tree on the
        # path); app: "lab" (JupyterLab) or "notebook" (Jupyter Notebook 7)
        self.python, self.source_on_path, self.app = python or sys.executable, source_on_path, app
        self.home = home
        self.root = home / "root"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "server.log"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> JupyterServer:
        self.root.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                         ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")]:
            env[var] = str(self.home / sub)
        if self.source_on_path:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        else:
            env.pop("PYTHONPATH", None)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        for name, values in LAB_SETTINGS.items():
            path = self.home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        cmd = [self.python, "-m", "jupyter", self.app, "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.root}",
               "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.terminals_enabled=False"]
        if self.app == "lab":
            cmd += ["--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"]
        else:  # Notebook 7 has no extension_manager option, and with it given ignored expose_app_in_browser too
            cmd += ["--JupyterNotebookApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
            cmd.append("--allow-root")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"JupyterLab did not answer in {self.startup_timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Shut down through the API (kernels included), then make sure the process is gone."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            req = urllib.request.Request(f"{self.url}/api/shutdown", method="POST")
            urllib.request.urlopen(req, timeout=5).close()
            self.process.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells (a cell starting with ``#md`` becomes markdown) for the Python 3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(c[3:].strip()) if c.startswith("#md") else nbformat.v4.new_code_cell(c)
                for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# JavaScript run in the page; `app` is JupyterLab's application object.
_CURRENT = "const app = window.jupyterapp; const nb = app.shell.currentWidget;"


class NotebookPage:
    """One notebook open in JupyterLab, in a Playwright page."""

    def __init__(self, page, server: JupyterServer, name: str, artifacts: Path):
        self.page, self.server, self.name, self.artifacts = page, server, name, artifacts
        self.dialogs: list[str] = []          # alert/confirm/prompt messages: a view must never cause one
        self.page_errors: list[str] = []      # uncaught exceptions in the page
        self.console_errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def open(self, timeout: float = 120) -> NotebookPage:
        """Load JupyterLab on the notebook and wait until its kernel is ready."""
        # ?reset: start from an empty workspace, so notebooks opened by earlier tests are not restored beside this one.
        path = f"lab/tree/{self.name}?reset" if self.server.app == "lab" else f"notebooks/{self.name}"
        self.page.goto(f"{self.server.url}/{path}", timeout=timeout * 1000)
        self.page.wait_for_function(
            f"""() => {{ if (!window.jupyterapp) return false; {_CURRENT}
                return nb && nb.context && nb.context.path === {json.dumps(self.name)} && nb.content.widgets.length > 0
                    && nb.sessionContext.session?.kernel?.connectionStatus === 'connected'
                    && nb.sessionContext.session.kernel.status === 'idle'; }}""",
            timeout=timeout * 1000, polling=250)
        return self

    def command(self, name: str, args: dict | None = None) -> None:
        self.page.evaluate("([name, args]) => window.jupyterapp.commands.execute(name, args)", [name, args or {}])

    def run_all(self, timeout: float = 180) -> None:
        """Run every cell (JupyterLab's "Run All") and wait until each has run; fail on the first error."""
        self.command("notebook:clear-all-cell-outputs")  # also resets execution counts, which mark progress
        self.command("notebook:run-all-cells")
        self.page.wait_for_function(
            f"""() => {{ {_CURRENT}
                const cells = nb.content.widgets.filter(c => c.model.type === 'code');
                const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
                const done = cells.every(c => c.model.executionCount !== null && c.model.executionState !== 'running');
                return failed || (done && nb.sessionContext.session.kernel.status === 'idle'); }}""",
            timeout=timeout * 1000, polling=250)
        errors = self.errors()
        assert not errors, "a notebook cell raised:\n" + "\n\n".join(errors)

    def errors(self) -> list[str]:
        return self.page.evaluate(f"""() => {{ {_CURRENT}
            return nb.content.widgets.flatMap(c => c.model.type === 'code' ? c.model.outputs.toJSON() : [])
                .filter(o => o.output_type === 'error')
                .map(o => o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n')
                     .replace(/\\u001b\\[[0-9;]*m/g, '')); }}""")

    def output_text(self, index: int) -> str:
        """The text (stdout and text/plain) a cell printed."""
        return self.page.evaluate(f"""(i) => {{ {_CURRENT}
            return nb.content.widgets[i].model.outputs.toJSON().map(o =>
                o.output_type === 'stream' ? [].concat(o.text).join('') :
                (o.data && o.data['text/plain'] ? [].concat(o.data['text/plain']).join('') : '')).join(''); }}""",
            index)

    def kernel(self, code: str, timeout: float = 60) -> str:
        """Run code in the notebook's kernel (after everything sent before it) and return its stdout."""
        result = self.page.evaluate(f"""async (code) => {{ {_CURRENT}
            const future = nb.sessionContext.session.kernel.requestExecute({{ code, store_history: false }});
            let out = '', error = null;
            future.onIOPub = (msg) => {{
                if (msg.header.msg_type === 'stream') out += msg.content.text;
                if (msg.header.msg_type === 'error') error = msg.content.ename + ': ' + msg.content.evalue;
            }};
            await future.done;
            return {{ out, error }}; }}""", code)
        assert result["error"] is None, f"kernel code failed: {result['error']}\n{code}"
        return result["out"].strip()

    def cell(self, index: int):
        """The Playwright locator of a cell (markdown and code cells both count)."""
        # Only the visible notebook: other open notebooks keep their (hidden) cells in the DOM.
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def set_theme(self, dark: bool) -> None:
        theme = "JupyterLab Dark" if dark else "JupyterLab Light"
        self.command("apputils:change-theme", {"theme": theme})
        # JupyterLab shows a splash while it swaps the theme's CSS
        self.page.wait_for_function(
            "(light) => document.body.dataset.jpThemeLight === light && !document.querySelector('#jupyterlab-splash')",
            arg="false" if dark else "true", timeout=30_000)

    def screenshot(self, label: str, locator=None) -> Path:
        """Save a PNG under test-artifacts/browser/ (of one element when ``locator`` is given)."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{label}.png"
        (locator or self.page).screenshot(path=str(path))
        return path
