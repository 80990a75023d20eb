"""The tutorial notebooks open in JupyterLab without being marked modified: their kernelspec and language_info
are what JupyterLab itself writes once the kernel has connected (otherwise the tab shows a dirty dot at once
and closing it asks to save a notebook nobody touched)."""

from __future__ import annotations

import shutil

import pytest

from .harness import ROOT, NotebookPage

pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def page(chromium, jupyter_server):
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_a_tutorial_does_not_dirty_it(page, jupyter_server, notebook, tmp_path):
    name = f"clean-{notebook.name}"
    shutil.copy(notebook, jupyter_server.root / name)
    nb = NotebookPage(page, jupyter_server, name, tmp_path).open()
    # Everything JupyterLab does on connecting has happened once the kernel's info and spec have arrived
    # (the panel writes language_info and kernelspec from them) and one more task has run.
    state = page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        const kernel = panel.sessionContext.session.kernel;
        await kernel.info; await kernel.spec;
        await new Promise((done) => setTimeout(done, 200));
        return { dirty: panel.context.model.dirty, metadata: panel.context.model.toJSON().metadata };
    }""")
    assert not state["dirty"], f"{notebook.name} is marked modified right after opening: {state['metadata']}"
    assert not nb.page_errors
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
