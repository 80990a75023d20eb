"""Feature map, neighbours and search: the figures of issue 5.

    python bench/bench_map.py            # both parts;  --python-only / --browser-only

Python (the real default model and SAE, 2 threads): ``lab.neighbors(f, 10)`` and ``lab.search(word)``
over the 16,384 features, median of many calls with varying features and words.

Browser (headless Debian Chromium, no Jupyter server): the real ``FeatureMap`` widget state of the
default SAE (16,384 points) is split into JSON and binary buffers as ipywidgets does and handed to the
built bundle (``saewidgets/static/feature_map.js``) in a bare page through a minimal anywidget model:

- first paint: from calling render() (the data has arrived) to the second animation frame after it;
- hover: from a mousemove over a point to the frame after the tooltip shows its explanation;
- the same points drawn by plotly.js ``scattergl`` (the copy inside the plotly package, no CDN) from
  ``Plotly.newPlot`` to the second frame after it, for comparison; and our Canvas 2D fallback.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]

PAGE_JS = """
async ({ esm, state, paths, buffers, prefer }) => {
  const bytes = (b64) => { const s = atob(b64); const a = new Uint8Array(s.length);
                           for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i); return new DataView(a.buffer); };
  const put = (obj, path, value) => { for (const key of path.slice(0, -1)) obj = obj[key]; obj[path.at(-1)] = value; };
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  if (prefer === "canvas2d") HTMLCanvasElement.prototype.getContext = ((orig) => function (kind, ...a) {
    return kind === "webgl" ? null : orig.call(this, kind, ...a); })(HTMLCanvasElement.prototype.getContext);
  const mod = await import(URL.createObjectURL(new Blob([esm], { type: "text/javascript" })));
  const runs = [];
  for (let run = 0; run < 6; run++) {
    const s = structuredClone(state);
    paths.forEach((p, i) => put(s, p, bytes(buffers[i])));
    const model = { get: (k) => s[k], set: (k, v) => { s[k] = v; }, save_changes() {}, on() {}, off() {}, send() {} };
    const host = document.createElement("div");
    host.style.width = "900px";
    document.body.replaceChildren(host);
    await frames();
    const t0 = performance.now();
    const cleanup = mod.default.render({ model, el: host });
    const t1 = performance.now();
    await frames();
    const t2 = performance.now();
    // hover: point 1234's pixel position (the view's frame: a centred square, 12 px padding)
    const stage = host.querySelector(".saew-map-stage");
    const r = stage.getBoundingClientRect();
    const xy = new Float32Array(s.points.xy.data.buffer.slice(s.points.xy.data.byteOffset, s.points.xy.data.byteOffset + s.points.xy.data.byteLength));
    const hovers = [];
    for (const i of [1234, 4321, 9999, 15000, 77]) {
      const size = Math.min(r.width, r.height) - 24, ox = (r.width - size) / 2, oy = (r.height - size) / 2;
      const cx = r.left + ox + xy[2 * i] * size, cy = r.top + oy + (1 - xy[2 * i + 1]) * size;
      const t3 = performance.now();
      stage.dispatchEvent(new MouseEvent("mousemove", { clientX: cx, clientY: cy, bubbles: true }));
      await frames();
      hovers.push({ ms: performance.now() - t3, text: host.querySelector(".saew-map-tip").textContent });
    }
    runs.push({ render: t1 - t0, paint: t2 - t0, hover: statistics(hovers.map((h) => h.ms)), tip: hovers[0].text,
                renderer: host.querySelector(".saew-map").dataset.renderer });
    cleanup();
  }
  return runs;
  function statistics(a) { const b = [...a].sort((x, y) => x - y); return b[Math.floor(b.length / 2)]; }
}
"""

PLOTLY_JS = """
async ({ x, y }) => {
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const runs = [];
  for (let run = 0; run < 6; run++) {
    const host = document.createElement("div");
    host.style.width = "900px"; host.style.height = "520px";
    document.body.replaceChildren(host);
    await frames();
    const t0 = performance.now();
    await Plotly.newPlot(host, [{ type: "scattergl", mode: "markers", x, y, marker: { size: 3, color: x } }],
                         { width: 900, height: 520, margin: { l: 10, r: 10, t: 10, b: 10 } });
    await frames();
    runs.push(performance.now() - t0);
    Plotly.purge(host);
  }
  return runs;
}
"""


def python_part() -> list[str]:
    import torch

    torch.set_num_threads(2)
    import saewidgets as sw

    lab = sw.load()
    n = lab.sae.d_sae
    lab.neighbors(0)
    lab.search("bridge")
    rng = np.random.default_rng(0)
    times = []
    for f in rng.integers(0, n, 200):
        t = time.perf_counter()
        lab.neighbors(int(f), 10)
        times.append(time.perf_counter() - t)
    words = ["bridge", "music", "dog", "money", "water", "king", "football", "computer", "food", "war",
             "river", "love", "science", "city", "children"]
    stimes = []
    for _ in range(3):
        for w in words:
            t = time.perf_counter()
            lab.search(w)
            stimes.append(time.perf_counter() - t)
    from saewidgets.analysis import search as search_mod

    ftimes = []
    for w in words:
        t = time.perf_counter()
        search_mod.search(lab, w, probe_words=False)
        ftimes.append(time.perf_counter() - t)
    ptimes = []
    for w in words:
        t = time.perf_counter()
        search_mod.probe(lab, w)
        ptimes.append(time.perf_counter() - t)
    med = lambda a: statistics.median(a) * 1000  # noqa: E731
    p90 = lambda a: float(np.percentile(a, 90)) * 1000  # noqa: E731
    return [f"neighbors(f, 10) among {n:,} features: median {med(times):.2f} ms, p90 {p90(times):.2f} ms (200 features)",
            f"search(word): median {med(stimes):.1f} ms, p90 {p90(stimes):.1f} ms ({len(stimes)} calls); of which the "
            f"probe forward (2 phrases, up to layer {lab.layer}): median {med(ptimes):.1f} ms",
            f"search(word, probe_words=False): median {med(ftimes):.1f} ms, p90 {p90(ftimes):.1f} ms"]


def browser_part() -> list[str]:
    import saewidgets as sw
    from ipywidgets.widgets.widget import _remove_buffers
    from playwright.sync_api import sync_playwright

    from saewidgets.widgets.bundle import STATIC
    from saewidgets.widgets.feature_map import FeatureMap

    lab = sw.load()
    widget = FeatureMap(lab, progress=False)
    state = widget.get_state()
    state.pop("_esm", None)
    state, paths, buffers = _remove_buffers(state)
    binary = sum(len(b) for b in buffers)
    xy = widget.layout_data.xy
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is needed (apt-get install chromium)")
    import plotly

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    lines = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        args = {"esm": (STATIC / "feature_map.js").read_text(), "state": state, "paths": paths,
                "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers]}
        for prefer in ("webgl", "canvas2d"):
            page.set_content("<!doctype html><html><body></body></html>")
            runs = page.evaluate(PAGE_JS, {**args, "prefer": prefer})
            warm = runs[1:]
            lines.append(f"feature map ({runs[0]['renderer']}), {len(xy):,} points: first paint median "
                         f"{statistics.median(r['paint'] for r in warm):.1f} ms (render() "
                         f"{statistics.median(r['render'] for r in warm):.1f} ms), worst {max(r['paint'] for r in warm):.1f} ms, "
                         f"cold {runs[0]['paint']:.1f} ms; hover to tooltip frame median "
                         f"{statistics.median(r['hover'] for r in warm):.1f} ms  (tooltip: {runs[0]['tip'][:50]!r})")
        page.set_content("<!doctype html><html><body></body></html>")
        page.add_script_tag(path=str(plotly_js))
        pruns = page.evaluate(PLOTLY_JS, {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist()})
        lines.append(f"plotly.js scattergl, same points: first paint median {statistics.median(pruns[1:]):.1f} ms, "
                     f"cold {pruns[0]:.1f} ms (plotly.min.js {plotly_js.stat().st_size / 1e6:.1f} MB to load first)")
        lines.append(f"bytes sent once: {binary / 1e3:.0f} kB binary (positions float32, cluster and density uint8, "
                     f"feature ids int32, explanations UTF-8)")
        lines.insert(0, f"Chromium {browser.version} headless ({' '.join(CHROMIUM_ARGS[:2])}: WebGL by SwiftShader, on the CPU)")
        browser.close()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python-only", action="store_true")
    ap.add_argument("--browser-only", action="store_true")
    args = ap.parse_args()
    out = []
    if not args.browser_only:
        out += python_part()
    if not args.python_only:
        out += browser_part()
    print("\n".join(out))


if __name__ == "__main__":
    main()
