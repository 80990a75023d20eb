"""Token heatmap in headless Chromium: first paint of a 2,000-token heatmap after its data arrives.

    python bench/bench_heatmap.py [--tokens 2000]

The widget's real state (built by saewidgets.widgets.Heatmap from synthetic Top-K activations, d_sae
4096, k=32 per token) is split into JSON and binary buffers exactly as ipywidgets does, handed to the
built bundle (saewidgets/static/heatmap.js) in a bare page through a minimal anywidget model, and timed:

- first paint: from calling render() to the second animation frame after it (layout and paint done);
- recolour: from a new feature column arriving to the next frame;
- bytes per token: what travels over the widget comm.
Needs Playwright and Debian's chromium; no Jupyter server.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from ipywidgets.widgets.widget import _remove_buffers
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from saewidgets.widgets import codecs  # noqa: E402
from saewidgets.widgets.bundle import STATIC  # noqa: E402
from saewidgets.widgets.heatmap import SINK, Heatmap, Prompt  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
WORDS = "the Golden Gate Bridge is a suspension bridge spanning the strait between San Francisco Bay and the ocean".split()


def synthetic_widget(n_tokens: int, d_sae: int = 4096, k: int = 32, seed: int = 0) -> Heatmap:
    gen = torch.Generator().manual_seed(seed)
    values = torch.zeros(n_tokens, d_sae)
    ids = torch.randint(0, d_sae, (n_tokens, k), generator=gen)
    values.scatter_(1, ids, torch.rand(n_tokens, k, generator=gen) * 10)
    values[0] = 0
    pieces = ["<|im_start|>"] + [(" " if i % 11 else "\n") + WORDS[i % len(WORDS)] for i in range(n_tokens - 1)]
    flags = np.zeros(n_tokens, np.uint8)
    flags[0] = SINK
    prompt = Prompt(pieces, values, flags)
    return Heatmap([prompt], d_sae, max_activation=torch.full((d_sae,), 10.0))


def wire_state(widget: Heatmap) -> tuple[dict, list[list], list[bytes]]:
    state = widget.get_state()
    state.pop("_esm", None)
    return _remove_buffers(state)


PAGE_JS = """
async ({ esm, state, paths, buffers, column }) => {
  const bytes = (b64) => { const s = atob(b64); const a = new Uint8Array(s.length);
                           for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i); return new DataView(a.buffer); };
  // put the buffers back where ipywidgets took them from
  const put = (obj, path, value) => { for (const key of path.slice(0, -1)) obj = obj[key]; obj[path.at(-1)] = value; };
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const mod = await import(URL.createObjectURL(new Blob([esm], { type: "text/javascript" })));
  const runs = [];
  for (let run = 0; run < 7; run++) {
    const s = structuredClone(state);
    paths.forEach((p, i) => put(s, p, bytes(buffers[i])));
    const handlers = {};
    const model = {
      get: (k) => s[k], set: (k, v) => { s[k] = v; }, save_changes() {},
      on: (n, f) => { (handlers[n] ||= []).push(f); }, off() {}, send() {},
    };
    const host = document.createElement("div");
    document.body.replaceChildren(host);
    await frames();
    const t0 = performance.now();
    const cleanup = mod.default.render({ model, el: host });
    const t1 = performance.now();
    await frames();
    const t2 = performance.now();
    // Python answers a click with feature 7's column
    s.feature = 7;
    s.feature_values = { feature: 7, columns: [bytes(column)].map((data) => ({ dtype: "float16", shape: [data.byteLength / 2], data })) };
    const t3 = performance.now();
    for (const n of ["change:feature", "change:feature_values"]) for (const f of handlers[n] || []) f();
    await frames();
    const t4 = performance.now();
    const tok = host.querySelectorAll(".saew-tok")[1000];
    const t5 = performance.now();
    tok.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    await frames();
    const t6 = performance.now();
    runs.push({ render: t1 - t0, paint: t2 - t0, recolour: t4 - t3, hover: t6 - t5,
                tokens: host.querySelectorAll(".saew-tok").length });
    cleanup();
  }
  return runs;
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()

    widget = synthetic_widget(args.tokens)
    state, paths, buffers = wire_state(widget)
    column = codecs.encode(torch.rand(args.tokens) * 10, "float16")["data"]
    json_bytes = len(json.dumps(state).encode())
    binary = sum(len(b) for b in buffers)
    prompt_binary = codecs.nbytes(widget.prompts)
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is needed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_content("<!doctype html><html><body></body></html>")
        runs = page.evaluate(PAGE_JS, {
            "esm": (STATIC / "heatmap.js").read_text(), "state": state, "paths": paths,
            "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers],
            "column": base64.b64encode(column).decode()})
        version = browser.version
        browser.close()
    assert all(r["tokens"] == args.tokens for r in runs)
    warm = runs[1:]  # the first run also compiles the module's code
    med = {key: statistics.median(r[key] for r in warm) for key in ("render", "paint", "recolour", "hover")}
    worst = max(r["paint"] for r in warm)
    print(f"heatmap, {args.tokens} tokens, top-8 features per token, Chromium {version} headless, {len(warm)} runs")
    print(f"  first paint after data arrives: median {med['paint']:.1f} ms (render() {med['render']:.1f} ms), "
          f"worst {worst:.1f} ms; cold first run {runs[0]['paint']:.1f} ms")
    print(f"  recolour by a feature: {med['recolour']:.1f} ms;  hover tooltip: {med['hover']:.1f} ms")
    table = codecs.nbytes(widget.scale)
    print(f"  bytes per token: {prompt_binary / args.tokens:.1f} binary (ids int32 ×8, values float16 ×8, flags) "
          f"+ {json_bytes / args.tokens:.1f} JSON (token text and the rest) "
          f"+ {table / args.tokens:.1f} max-activation table ({table // 8} features shown) "
          f"= {(binary + json_bytes) / args.tokens:.1f}; a selected feature adds {len(column) / args.tokens:.0f}")


if __name__ == "__main__":
    main()
