"""Every view on a plain page, as VS Code and Colab show them: no --jp-* variables, no JupyterLab globals,
light and dark by prefers-color-scheme. The page is a saved HTML export (nothing else defines the page), and
each view must be readable (text contrast) and usable (hover, click) in both schemes."""

from __future__ import annotations

import pytest

from .harness import ARTIFACTS

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.integration]

VIEWS = {"heatmap": ".saew-heatmap", "card": ".saew-card", "map": ".saew-map", "panel": ".saew-steer"}

# WCAG contrast of a view's text against what is really behind it (the first opaque background up the tree)
CONTRAST = """(el) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
      .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0)) bg = c;
  }
  bg = bg || [255, 255, 255];
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture(scope="module")
def pages(default_lab, tmp_path_factory):
    lab, out = default_lab, tmp_path_factory.mktemp("plain")
    return {"heatmap": lab.heatmap("The Golden Gate Bridge").save_html(out / "heatmap.html"),
            "card": lab.feature(8746).save_html(out / "card.html"),
            "map": lab.export_html(out / "map.html", lab.map()),
            "panel": lab.steer([8746], prompt="Hi").save_html(out / "panel.html")}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_readable_and_usable_without_jupyter(chromium, pages, view, scheme):
    context = chromium.new_context(viewport={"width": 1100, "height": 1000}, color_scheme=scheme)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(pages[view].resolve().as_uri())
        page.wait_for_function("document.body.dataset.saewReady === 'true'", timeout=60_000)
        assert page.evaluate("""() => !window.jupyterapp && !window.require && !window.define &&
            getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color1') === ''"""), "not a plain page"
        root = page.locator(VIEWS[view]).first
        expect(root).to_be_visible()
        contrast = root.evaluate(CONTRAST)
        assert contrast >= 4.5, f"{view} text contrast {contrast:.1f}:1 in {scheme} (WCAG AA asks 4.5:1)"
        dark_bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert (dark_bg == "rgb(255, 255, 255)") == (scheme == "light"), dark_bg
        if view == "heatmap":  # usable: hover shows the token's features, click pins them
            root.locator(".saew-tok").nth(2).hover()
            expect(page.locator(".saew-tooltip:visible")).to_contain_text("token 2")
            root.locator(".saew-tok").nth(2).click()
            expect(root.locator(".saew-hm-pinned button.saew-feat").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "plain-page" / f"{view}-{scheme}.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
