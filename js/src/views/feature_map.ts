// Feature map (Python side: saewidgets/widgets/feature_map.py). Every feature a point, drawn by the
// WebGL renderer in ../scatter.ts. Wheel zooms, drag pans, hover shows the feature's explanation (all
// explanations arrive once, with the layout, so hovering never waits for the kernel), click selects
// (`feature` traitlet; Python answers with the neighbours, highlighted here). The search box sends
// {type: "search", id, query}; the answer in `matches` carries the id, so only the latest is shown.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { connect, el, type Listeners } from "../dom";
import { decode, decodeBytes, decodeFloat, decodeInt, type Payload } from "../codecs";
import { viridis } from "../colour";
import { clusterColour, createRenderer, Grid, toData, toPixel, zoomAt, type Layer, type Renderer, type View } from "../scatter";
import { css } from "../styles";
import { isDark } from "../theme";

export interface MapState {
  feature: number | null;
  d_sae: number;
  points: { xy: Payload; cluster: Payload; density: Payload; features: Payload; texts: DataView };
  labels: string[];
  notice: string;
  colour_by: string;
  neighbors: { feature?: number; ids?: Payload; cosine?: Payload };
  matches: { id?: number | null; query?: string; ids?: Payload; scores?: Payload; message?: string };
  activation: { text?: string; values?: Payload; active?: number };
  error: string;
  height: number;
}

const mapCss = String.raw`
.saew-map { position: relative; }
.saew-map-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; margin-bottom: 6px; }
.saew-map-bar input[type=search] {
  width: 14em; padding: 2px 6px; border: 1px solid var(--saew-border); border-radius: 3px; background: var(--saew-bg);
}
.saew-map-bar select { font: inherit; color: inherit; background: var(--saew-bg); border: 1px solid var(--saew-border); border-radius: 3px; }
.saew-map-status { color: var(--saew-muted); }
.saew-map-notice { color: var(--saew-warn); width: 100%; }
.saew-map-error { color: var(--saew-error); width: 100%; }
.saew-map-stage {
  position: relative; width: 100%; overflow: hidden; border: 1px solid var(--saew-border); border-radius: 4px;
  background: var(--saew-bg); cursor: crosshair; touch-action: none; user-select: none;
}
.saew-map-stage canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.saew-map-labels { position: absolute; inset: 0; pointer-events: none; }
.saew-map-label {
  position: absolute; transform: translate(-50%, -50%); font-size: 11px; white-space: nowrap; color: var(--saew-fg);
  opacity: 0.75; text-shadow: 0 0 3px var(--saew-bg), 0 0 3px var(--saew-bg);
}
.saew-map-tip {
  position: absolute; pointer-events: none; max-width: 360px; padding: 4px 8px; border-radius: 4px; z-index: 2;
  background: var(--saew-panel); border: 1px solid var(--saew-border); box-shadow: 0 1px 4px rgba(0,0,0,.2);
  white-space: pre-wrap; word-break: break-word;
}
.saew-map-legend { color: var(--saew-muted); font-size: 11px; }
`;

const ACCENT: [number, number, number] = [229, 57, 53];
const NEIGHBOUR: [number, number, number] = [255, 152, 0];

export function render({ model, el: host }: RenderProps<MapState>) {
  const m = model as AnyModel<MapState>;
  const t0 = performance.now();
  const points = m.get("points");
  const xy = decodeFloat(points.xy).data;
  const n = xy.length / 2;
  const cluster = decodeBytes(points.cluster).data;
  const density = decodeBytes(points.density).data;
  const features = decodeInt(points.features).data;
  const texts = new TextDecoder().decode(points.texts).split("\n");
  const pointOf = new Map<number, number>();
  for (let i = 0; i < n; i++) pointOf.set(features[i], i);
  const grid = new Grid(xy);

  const root = el("div", "saew-root saew-map");
  const style = el("style");
  style.textContent = css + mapCss;
  const bar = el("div", "saew-map-bar");
  const search = el("input", "saew-map-search");
  search.type = "search";
  search.placeholder = "search words, e.g. bridge";
  search.setAttribute("aria-label", "search features by words");
  const colourSelect = el("select", "saew-map-colour");
  for (const mode of ["cluster", "density", "activation"]) {
    const opt = el("option", "", `colour: ${mode}`);
    opt.value = mode;
    colourSelect.append(opt);
  }
  const reset = el("button", "saew-btn saew-map-reset", "reset view");
  const status = el("span", "saew-map-status");
  const legend = el("span", "saew-map-legend");
  const notice = el("div", "saew-map-notice");
  const error = el("div", "saew-map-error");
  bar.append(search, colourSelect, reset, status, legend, notice, error);
  const stage = el("div", "saew-map-stage");
  const canvas = el("canvas");
  const labelLayer = el("div", "saew-map-labels");
  const tip = el("div", "saew-map-tip");
  tip.style.display = "none";
  stage.append(canvas, labelLayer, tip);
  root.append(style, bar, stage);
  host.append(root);

  const renderer: Renderer = createRenderer(canvas, xy);
  root.dataset.renderer = renderer.kind;
  let view: View = { k: 1, tx: 0, ty: 0 };
  let width = 1;
  let height = 1;
  let hover = -1;
  let dark = isDark(host);
  let matchIds: number[] = [];
  let matchSet = new Set<number>();
  let neighbourIds: number[] = [];
  let searchId = 0;
  let frameRequested = false;

  // ---- colours of all points

  const rgba = new Uint8Array(4 * n);
  const paint = () => {
    const mode = m.get("colour_by");
    const act = m.get("activation");
    const values = mode === "activation" && act.values ? decodeFloat(act.values).data : null;
    const dim = matchSet.size > 0;
    for (let i = 0; i < n; i++) {
      let c: [number, number, number];
      let a = 200;
      if (mode === "density") c = viridis(density[i] / 255);
      else if (values) {
        const v = values[i];
        c = v > 0 ? viridis(0.25 + 0.75 * v) : dark ? [90, 90, 90] : [200, 200, 200];
        a = v > 0 ? 255 : 110;
      } else c = clusterColour(cluster[i]);
      if (dim && !matchSet.has(i)) a = 50;
      rgba.set([c[0], c[1], c[2], a], 4 * i);
    }
    renderer.setColours(rgba);
    legend.textContent =
      mode === "density" ? "colour: local density (viridis: sparse → dense)"
      : values ? `colour: activation on "${(act.text ?? "").slice(0, 60)}" (${act.active ?? 0} features fire; ÷ each feature's max)`
      : mode === "activation" ? "colour: activation (call map.show(text) first)"
      : `colour: ${m.get("labels").length} clusters`;
    if (colourSelect.value !== mode) colourSelect.value = mode;
  };

  // ---- drawing

  const layer = (ids: number[], colour: [number, number, number], size: number): Layer => {
    const colours = new Uint8Array(4 * ids.length);
    for (let j = 0; j < ids.length; j++) colours.set([colour[0], colour[1], colour[2], 255], 4 * j);
    return { indices: ids, colours, size };
  };

  const baseSize = () => Math.min(9, Math.max(2.5, 3 * Math.sqrt(view.k) * Math.min(1, Math.sqrt(20000 / Math.max(n, 1)) * 1.2)));

  const draw = () => {
    frameRequested = false;
    const s = baseSize();
    const overlay: Layer[] = [];
    if (matchIds.length) overlay.push(layer(matchIds, ACCENT, s + 4));
    if (neighbourIds.length) overlay.push(layer(neighbourIds, NEIGHBOUR, s + 4));
    const sel = m.get("feature");
    const selPoint = sel == null ? undefined : pointOf.get(sel);
    if (selPoint !== undefined) overlay.push(layer([selPoint], dark ? [255, 255, 255] : [0, 0, 0], s + 9), layer([selPoint], ACCENT, s + 5));
    if (hover >= 0) overlay.push(layer([hover], dark ? [255, 255, 255] : [20, 20, 20], s + 6));
    renderer.draw(view, s, overlay);
    placeLabels();
  };
  const schedule = () => {
    if (!frameRequested) {
      frameRequested = true;
      requestAnimationFrame(draw);
    }
  };

  // cluster labels at each cluster's centre (mean position), as text
  const labels = m.get("labels");
  const centres = labels.map(() => [0, 0, 0]);
  for (let i = 0; i < n; i++) {
    const c = cluster[i];
    if (c < centres.length) {
      centres[c][0] += xy[2 * i];
      centres[c][1] += xy[2 * i + 1];
      centres[c][2] += 1;
    }
  }
  const labelEls = labels.map((text) => {
    const node = el("div", "saew-map-label", text);
    labelLayer.append(node);
    return node;
  });
  function placeLabels() {
    const show = m.get("colour_by") === "cluster";
    labelLayer.style.display = show ? "" : "none";
    if (!show) return;
    labelEls.forEach((node, c) => {
      const [sx, sy, count] = centres[c];
      if (!count) return void (node.style.display = "none");
      const [px, py] = toPixel(sx / count, sy / count, width, height, view);
      node.style.display = px < 0 || py < 0 || px > width || py > height ? "none" : "";
      node.style.left = `${px}px`;
      node.style.top = `${py}px`;
    });
  }

  const size = () => {
    width = stage.clientWidth || 600;
    height = m.get("height") || 520;
    stage.style.height = `${height}px`;
    renderer.resize(width, height);
  };

  // ---- status line

  const showStatus = () => {
    const q = m.get("matches");
    const sel = m.get("feature");
    const parts: string[] = [];
    if (sel != null) parts.push(`selected #${sel}` + (pointOf.has(sel) ? "" : " (not on this subsampled map)"));
    if (neighbourIds.length) parts.push(`${neighbourIds.length} neighbours`);
    if (q.query) parts.push(q.message ? q.message : `${matchIds.length} matches for "${q.query}"`);
    else if (q.message) parts.push(q.message);
    status.textContent = parts.join(" · ");
    notice.textContent = m.get("notice");
    notice.style.display = m.get("notice") ? "" : "none";
    error.textContent = m.get("error");
    error.style.display = m.get("error") ? "" : "none";
  };

  // ---- traitlet changes from Python

  const onMatches = () => {
    const q = m.get("matches");
    if (q.id != null && q.id !== searchId) return; // an answer to an older query
    matchIds = [];
    if (q.ids) for (const f of decode(q.ids).data) { const p = pointOf.get(f); if (p !== undefined) matchIds.push(p); }
    matchSet = new Set(matchIds);
    root.dataset.matches = String(matchIds.length);
    paint();
    showStatus();
    schedule();
  };
  const onNeighbours = () => {
    const nb = m.get("neighbors");
    neighbourIds = [];
    if (nb.ids && nb.feature === m.get("feature")) {
      for (const f of decode(nb.ids).data) { const p = pointOf.get(f); if (p !== undefined) neighbourIds.push(p); }
    }
    root.dataset.neighbours = String(neighbourIds.length);
    showStatus();
    schedule();
  };
  const onColours = () => {
    paint();
    schedule();
  };
  const onSelected = () => {
    showStatus();
    schedule();
  };

  // ---- interaction

  const local = (e: MouseEvent): [number, number] => {
    const r = stage.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  const pick = (px: number, py: number): number => {
    const [x, y] = toData(px, py, width, height, view);
    const radius = 8 / (Math.max(1, Math.min(width, height) - 24) * view.k);
    return grid.nearest(x, y, radius);
  };
  let drag: { x: number; y: number; view: View; moved: boolean } | null = null;
  const onMove = (e: MouseEvent) => {
    const started = performance.now();
    const [px, py] = local(e);
    if (drag) {
      const dx = px - drag.x, dy = py - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      view = { ...drag.view, tx: drag.view.tx + dx, ty: drag.view.ty + dy };
      tip.style.display = "none";
      schedule();
      return;
    }
    const i = pick(px, py);
    if (i !== hover) {
      hover = i;
      schedule();
    }
    if (i < 0) {
      tip.style.display = "none";
      return;
    }
    tip.textContent = texts[i] ?? `#${features[i]}`;
    tip.style.display = "";
    const left = Math.min(px + 14, Math.max(0, width - 370));
    tip.style.left = `${left}px`;
    tip.style.top = `${py + 14 > height - 60 ? py - 50 : py + 14}px`;
    root.dataset.hoverMs = (performance.now() - started).toFixed(2);
  };
  const onDown = (e: MouseEvent) => {
    if (e.button !== 0) return;
    const [px, py] = local(e);
    drag = { x: px, y: py, view, moved: false };
  };
  const onUp = (e: MouseEvent) => {
    if (!drag) return;
    const moved = drag.moved;
    drag = null;
    if (moved) return;
    const [px, py] = local(e);
    const i = pick(px, py);
    if (i >= 0) {
      m.set("feature", features[i]);
      m.save_changes();
      onSelected();
    }
  };
  const onLeave = () => {
    drag = null;
    hover = -1;
    tip.style.display = "none";
    schedule();
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const [px, py] = local(e);
    view = zoomAt(view, Math.exp(-e.deltaY * 0.0015), px, py, width, height);
    schedule();
  };
  const onSearch = (e: KeyboardEvent) => {
    if (e.key !== "Enter") return;
    searchId += 1;
    status.textContent = `searching "${search.value}"…`;
    m.send({ type: "search", id: searchId, query: search.value });
  };
  const onClear = () => {
    if (search.value === "" && matchIds.length) {
      searchId += 1;
      m.send({ type: "search", id: searchId, query: "" });
    }
  };
  const onColourSelect = () => {
    m.set("colour_by", colourSelect.value);
    m.save_changes();
    onColours();
  };
  const onReset = () => {
    view = { k: 1, tx: 0, ty: 0 };
    schedule();
  };
  const onTheme = () => {
    dark = isDark(host);
    paint();
    schedule();
  };
  const onResize = () => {
    size();
    schedule();
  };

  stage.addEventListener("mousemove", onMove);
  stage.addEventListener("mousedown", onDown);
  window.addEventListener("mouseup", onUp);
  stage.addEventListener("mouseleave", onLeave);
  stage.addEventListener("wheel", onWheel, { passive: false });
  search.addEventListener("keydown", onSearch);
  search.addEventListener("input", onClear);
  colourSelect.addEventListener("change", onColourSelect);
  reset.addEventListener("click", onReset);
  const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver(onResize) : null;
  observer?.observe(stage);
  const listeners: Listeners = [
    ["change:matches", onMatches],
    ["change:neighbors", onNeighbours],
    ["change:colour_by", onColours],
    ["change:activation", onColours],
    ["change:feature", onSelected],
    ["change:notice", showStatus],
    ["change:error", showStatus],
    ["change:height", onResize],
  ];
  const disconnect = connect(m, listeners, onTheme);

  size();
  paint();
  onNeighbours();
  onMatches();
  showStatus();
  draw();
  // first paint: the frame after the first draw call is on screen
  requestAnimationFrame(() => {
    root.dataset.firstPaintMs = (performance.now() - t0).toFixed(1);
  });
  root.dataset.points = String(n);
  root.dataset.drawMs = (performance.now() - t0).toFixed(1);

  return () => {
    disconnect();
    observer?.disconnect();
    window.removeEventListener("mouseup", onUp);
    renderer.destroy();
  };
}

export default { render };
