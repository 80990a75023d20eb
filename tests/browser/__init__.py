"""Real-browser tests: JupyterLab in Chromium driven by Playwright (a package, so its conftest keeps its own name)."""
