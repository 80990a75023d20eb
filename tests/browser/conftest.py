"""Fixtures for real-browser tests: one JupyterLab server and one Chromium per session (see harness.py).

    def test_something(open_notebook):
        nb = open_notebook("my-view.ipynb", ["from saewidgets.widgets import heatmap", "heatmap(lab, 'Hi')"])
        nb.run_all()

Skipped, with the reason, where Playwright or Debian's chromium is missing.
"""

from __future__ import annotations

import re

import pytest

from .harness import ARTIFACTS, CHROMIUM_ARGS, JupyterServer, NotebookPage, chromium_path, write_notebook

_OPEN: list[NotebookPage] = []  # pages to photograph when a test fails


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    server = JupyterServer(tmp_path_factory.mktemp("jupyter")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _artifacts_for(node) -> str:
    return re.sub(r"[^\w.-]+", "_", node.name)


@pytest.fixture(scope="module")
def open_notebook(request, chromium, jupyter_server):
    """Write a notebook into the server's root, open it in a fresh browser context, and return a NotebookPage.

    Module-scoped: a test module usually runs its notebook once and checks it from several tests.
    """
    contexts = []

    def open_(name: str, cells: list[str], viewport=(1200, 900)) -> NotebookPage:
        write_notebook(jupyter_server.root / name, cells)
        context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        context.set_default_timeout(60_000)
        contexts.append(context)
        artifacts = ARTIFACTS / _artifacts_for(request.node)
        page = NotebookPage(context.new_page(), jupyter_server, name, artifacts)
        _OPEN.append(page)
        return page.open()

    yield open_
    _OPEN.clear()
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, keep a screenshot of every open page next to the other artefacts."""
    report = yield
    if report.when == "call" and report.failed:
        for n, page in enumerate(_OPEN):
            try:
                page.screenshot(f"FAILED-{_artifacts_for(item)}-{n}")
            except Exception:  # the page may be gone; the report matters more
                pass
    return report
