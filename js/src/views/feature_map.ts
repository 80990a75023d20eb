// Feature map (Python side: saewidgets/widgets/feature_map.py). Every feature a point, drawn by the
// WebGL renderer in ../scatter.ts. Wheel zooms, drag pans, hover shows the feature's explanation (all
// explanations arrive once, with the layout, so hovering never waits for the kernel), click selects
// (`feature` traitlet; Python answers with the neighbours, highlighted here). The search box sends
// {type: "search", id, query}; the answer in `matches` carries the id, so only the latest is shown, and its
// matches are listed under the bar (click one to select it). Cluster labels are placed largest cluster
// first, leaving out any that would overlap one already placed (zooming in makes room for more); a click on
// a label lists that cluster's features (cluster ids travel with the layout, so no round trip). Search
// matches, the selection's neighbours and the selection have their own colours, named in a key.
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
  neighbors: { feature?: number; ids?: Payload; cosine?: Payload; by?: string };
  matches: { id?: number | null; query?: string; ids?: Payload; scores?: Payload; density?: Payload; message?: string };
  search_hint?: string;
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
  position: absolute; transform: translate(-50%, -50%); font-size: 11px; line-height: 15px; white-space: nowrap;
  color: var(--saew-fg); padding: 0 4px; border-radius: 3px; border: 1px solid transparent; pointer-events: auto;
  cursor: pointer; background: var(--saew-bg); background: color-mix(in srgb, var(--saew-bg) 80%, transparent);
}
.saew-map-label:hover, .saew-map-label.saew-active { border-color: var(--saew-accent); }
.saew-map-labels.saew-faded .saew-map-label:not(:hover) { opacity: 0.6; }
.saew-map-key { display: flex; flex-wrap: wrap; gap: 2px 14px; width: 100%; font-size: 11px; color: var(--saew-muted); }
.saew-map-key[hidden] { display: none; }
.saew-map-key-item { display: inline-flex; align-items: center; gap: 5px; }
.saew-map-swatch {
  display: inline-block; width: 11px; height: 11px; border-radius: 50%; border: 1.5px solid var(--saew-fg); flex: none;
}
.saew-map-list {
  border: 1px solid var(--saew-border); border-radius: 4px; background: var(--saew-panel); padding: 4px 6px;
  margin-bottom: 6px;
}
.saew-map-list[hidden] { display: none; }
.saew-map-list-head { display: flex; align-items: center; gap: 8px; margin-bottom: 3px; }
.saew-map-list-title { font-weight: 600; }
.saew-map-list-head .saew-btn { margin-left: auto; padding: 0 6px; }
.saew-map-items {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 1px 10px; max-height: 10.5em;
  overflow-y: auto;
}
.saew-map-item {
  display: flex; align-items: baseline; gap: 6px; min-width: 0; text-align: left; padding: 1px 4px; background: none;
  border: 1px solid transparent; border-radius: 3px; cursor: pointer;
}
.saew-map-item:hover, .saew-map-item:focus-visible { border-color: var(--saew-accent); outline: none; }
.saew-map-item.saew-selected { border-color: var(--saew-accent); background: var(--saew-subtle); }
.saew-map-item-id { font-family: var(--saew-mono); flex: none; }
.saew-map-item-text { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.saew-map-item-density { color: var(--saew-muted); font-size: 0.9em; flex: none; margin-left: auto; }
.saew-map-group { grid-column: 1 / -1; color: var(--saew-muted); font-size: 0.9em; margin-top: 3px; }
.saew-map-item.saew-dense .saew-map-item-text { color: var(--saew-muted); }
.saew-map-tip {
  position: absolute; pointer-events: none; max-width: 360px; padding: 4px 8px; border-radius: 4px; z-index: 2;
  background: var(--saew-panel); border: 1px solid var(--saew-border); box-shadow: 0 1px 4px rgba(0,0,0,.2);
  white-space: pre-wrap; word-break: break-word;
}
.saew-map-legend { color: var(--saew-muted); font-size: 11px; }
`;

type RGB = [number, number, number];
/** Overlay colours (light theme, dark theme): matches magenta, neighbours teal, selection amber. */
export const MAP_COLOURS: Record<"match" | "neighbour" | "selected", [RGB, RGB]> = {
  match: [[216, 27, 96], [240, 98, 146]],
  neighbour: [[0, 131, 143], [38, 198, 218]],
  selected: [[255, 179, 0], [255, 202, 40]],
};
/** Firing density above which a feature counts as dense (fires on more than 10% of tokens). */
export const DENSE = 0.1;
/** At most this many of a cluster's features are listed (all of them are highlighted on the map). */
export const CLUSTER_LIST_MAX = 100;

interface LabelBox { left: number; top: number; right: number; bottom: number }

/** Greedy decluttering: boxes in priority order; a box overlapping one already kept is left out. */
export function declutter(boxes: (LabelBox | null)[], order: number[], gap = 2): boolean[] {
  const keep = boxes.map(() => false);
  const kept: LabelBox[] = [];
  for (const c of order) {
    const b = boxes[c];
    if (!b) continue;
    if (kept.some((k) => b.left < k.right + gap && k.left < b.right + gap && b.top < k.bottom + gap && k.top < b.bottom + gap)) continue;
    keep[c] = true;
    kept.push(b);
  }
  return keep;
}

const rgbCss = (c: RGB) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
const percent = (p: number) => (p >= 0.01 ? `${(p * 100).toFixed(1)}%` : `${(p * 100).toPrecision(2)}%`);

function render({ model, el: host }: RenderProps<MapState>) {
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
  search.placeholder = `search words, e.g. ${m.get("search_hint") || "music"}`;
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
  const key = el("div", "saew-map-key");
  const notice = el("div", "saew-map-notice");
  const error = el("div", "saew-map-error");
  bar.append(search, colourSelect, reset, status, legend, key, notice, error);
  // what a search found or a clicked cluster holds: a list of features, each a button that selects it
  const listBox = el("div", "saew-map-list");
  listBox.hidden = true;
  const listHead = el("div", "saew-map-list-head");
  const listTitle = el("span", "saew-map-list-title");
  const listClose = el("button", "saew-btn", "×");
  listClose.type = "button";
  listClose.title = "close the list (the search or cluster stays highlighted until cleared)";
  listClose.dataset.action = "close-list";
  listHead.append(listTitle, listClose);
  const listItems = el("div", "saew-map-items");
  listBox.append(listHead, listItems);
  const stage = el("div", "saew-map-stage");
  const canvas = el("canvas");
  const labelLayer = el("div", "saew-map-labels");
  const tip = el("div", "saew-map-tip");
  tip.style.display = "none";
  stage.append(canvas, labelLayer, tip);
  root.append(style, bar, listBox, stage);
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
  let hideNeighboursOf: number | null = null; // a search after a selection clears its neighbours' highlight
  let shownQuery = "";
  let clusterFocus = -1; // the cluster whose label was clicked (its points stay bright), or -1
  let listKind: "search" | "cluster" | null = null;
  let searchId = 0;
  let frameRequested = false;

  // ---- colours of all points

  const rgba = new Uint8Array(4 * n);
  const paint = () => {
    const mode = m.get("colour_by");
    const act = m.get("activation");
    const values = mode === "activation" && act.values ? decodeFloat(act.values).data : null;
    const dim = matchSet.size > 0 || clusterFocus >= 0;
    for (let i = 0; i < n; i++) {
      let c: [number, number, number];
      let a = 200;
      if (mode === "density") c = viridis(density[i] / 255);
      else if (values) {
        const v = values[i];
        c = v > 0 ? viridis(0.25 + 0.75 * v) : dark ? [90, 90, 90] : [200, 200, 200];
        a = v > 0 ? 255 : 110;
      } else c = clusterColour(cluster[i]);
      if (dim && !(clusterFocus >= 0 ? cluster[i] === clusterFocus : matchSet.has(i))) a = 50;
      rgba.set([c[0], c[1], c[2], a], 4 * i);
    }
    renderer.setColours(rgba);
    legend.textContent =
      mode === "density" ? "colour: local density (viridis: sparse → dense)"
      : values ? `colour: activation on "${(act.text ?? "").slice(0, 60)}" (${act.active ?? 0} features fire; ÷ each feature's max)`
      : mode === "activation" ? "colour: activation (call map.show(text) first)"
      : `colour: ${m.get("labels").length} clusters`;
    if (colourSelect.value !== mode) colourSelect.value = mode;
    showKey();
  };

  const colourOf = (what: keyof typeof MAP_COLOURS): RGB => MAP_COLOURS[what][dark ? 1 : 0];

  /** The key to the overlay colours: what each colour on the map means right now. */
  function showKey() {
    const items: [string, RGB | null, string][] = [];
    const q = m.get("matches");
    const sel = m.get("feature");
    if (matchIds.length) items.push(["match", colourOf("match"), `search match for "${q.query ?? ""}" (${matchIds.length})`]);
    if (neighbourIds.length) {
      const by = m.get("neighbors").by === "coactivation" ? "fire together (co-activation)" : "similar direction (decoder cosine)";
      items.push(["neighbour", colourOf("neighbour"), `neighbour of #${sel}: ${by} (${neighbourIds.length})`]);
    }
    if (sel != null && pointOf.has(sel)) items.push(["selected", colourOf("selected"), `selected #${sel}`]);
    if (clusterFocus >= 0) items.push(["cluster", clusterColour(clusterFocus), `cluster "${labels[clusterFocus]}" (${members[clusterFocus].length})`]);
    if (matchIds.length || clusterFocus >= 0) items.push(["dimmed", null, "faded: the other features"]);
    key.replaceChildren(...items.map(([name, rgb, text]) => {
      const item = el("span", "saew-map-key-item");
      item.dataset.key = name;
      const sw = el("span", "saew-map-swatch");
      if (rgb) sw.style.background = rgbCss(rgb);
      else sw.style.opacity = "0.3";
      item.append(sw, text);
      return item;
    }));
    key.hidden = items.length === 0;
  }

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
    const ring: RGB = dark ? [255, 255, 255] : [20, 20, 20];
    // each highlighted point sits on a ring of the text colour, so it stands apart from the cluster colours
    if (matchIds.length) overlay.push(layer(matchIds, ring, s + 6), layer(matchIds, colourOf("match"), s + 4));
    if (neighbourIds.length) overlay.push(layer(neighbourIds, ring, s + 6), layer(neighbourIds, colourOf("neighbour"), s + 4));
    const sel = m.get("feature");
    const selPoint = sel == null ? undefined : pointOf.get(sel);
    if (selPoint !== undefined) overlay.push(layer([selPoint], ring, s + 10), layer([selPoint], colourOf("selected"), s + 6));
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
  // each cluster's members (point indices), the most central first
  const members: number[][] = labels.map(() => []);
  for (let i = 0; i < n; i++) if (cluster[i] < members.length) members[cluster[i]].push(i);
  members.forEach((list, c) => {
    const [sx, sy, count] = centres[c];
    if (!count) return;
    const cx = sx / count, cy = sy / count;
    const d = (i: number) => (xy[2 * i] - cx) ** 2 + (xy[2 * i + 1] - cy) ** 2;
    list.sort((a, b) => d(a) - d(b));
  });
  // larger clusters' labels win a place first
  const labelOrder = labels.map((_, c) => c).sort((a, b) => centres[b][2] - centres[a][2]);
  const labelEls = labels.map((text, c) => {
    const node = el("div", "saew-map-label", text);
    node.dataset.cluster = String(c);
    node.title = `cluster "${text}": ${centres[c][2]} features (click to list them)`;
    labelLayer.append(node);
    return node;
  });
  const labelSize: ([number, number] | null)[] = labels.map(() => null);
  const sizeOf = (c: number): [number, number] => {
    const node = labelEls[c];
    if (!labelSize[c] && node.offsetWidth > 0) labelSize[c] = [node.offsetWidth, node.offsetHeight];
    // not laid out (hidden cell, tests): an estimate from the text
    return labelSize[c] ?? [labels[c].length * 6.2 + 10, 17];
  };
  function placeLabels() {
    const show = m.get("colour_by") === "cluster";
    labelLayer.style.display = show ? "" : "none";
    if (!show) return;
    labelLayer.classList.toggle("saew-faded", matchIds.length > 0); // let a search's matches show through
    const boxes = labelEls.map((node, c) => {
      const [sx, sy, count] = centres[c];
      if (!count) return null;
      const [px, py] = toPixel(sx / count, sy / count, width, height, view);
      if (px < 0 || py < 0 || px > width || py > height) return null;
      node.style.left = `${px}px`;
      node.style.top = `${py}px`;
      const [w, h] = sizeOf(c);
      return { left: px - w / 2, top: py - h / 2, right: px + w / 2, bottom: py + h / 2 };
    });
    const keep = declutter(boxes, clusterFocus >= 0 ? [clusterFocus, ...labelOrder] : labelOrder);
    let shown = 0;
    labelEls.forEach((node, c) => {
      node.style.display = keep[c] ? "" : "none";
      node.classList.toggle("saew-active", c === clusterFocus);
      shown += keep[c] ? 1 : 0;
    });
    root.dataset.labelsShown = String(shown);
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
    if (clusterFocus >= 0) parts.push(`cluster "${labels[clusterFocus]}": ${members[clusterFocus].length} features`);
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
    if ((q.query ?? "") !== shownQuery) {
      shownQuery = q.query ?? "";
      if (document.activeElement !== search) search.value = shownQuery; // a search from Python shows in the box
      if (shownQuery) {
        // a new search: the old selection's neighbours and a clicked cluster stop being highlighted
        hideNeighboursOf = m.get("feature");
        neighbourIds = [];
        root.dataset.neighbours = "0";
        clusterFocus = -1;
      }
    }
    if (shownQuery || listKind === "search") showSearchList();
    paint();
    showStatus();
    schedule();
  };
  const onNeighbours = () => {
    const nb = m.get("neighbors");
    neighbourIds = [];
    if (nb.ids && nb.feature === m.get("feature") && nb.feature !== hideNeighboursOf) {
      for (const f of decode(nb.ids).data) { const p = pointOf.get(f); if (p !== undefined) neighbourIds.push(p); }
    }
    root.dataset.neighbours = String(neighbourIds.length);
    showKey();
    showStatus();
    schedule();
  };
  const onColours = () => {
    paint();
    schedule();
  };
  const onSelected = () => {
    if (m.get("feature") !== hideNeighboursOf) hideNeighboursOf = null;
    listItems.querySelectorAll<HTMLElement>(".saew-map-item").forEach((b) =>
      b.classList.toggle("saew-selected", Number(b.dataset.feature) === m.get("feature")));
    showKey();
    showStatus();
    schedule();
  };

  // ---- the list under the bar: a search's matches or a cluster's features

  const labelText = (i: number) => (texts[i] ?? "").replace(/^#\d+\s*/, "");
  function item(i: number, hint: string, density?: number): HTMLButtonElement {
    const b = el("button", "saew-map-item");
    b.type = "button";
    b.dataset.feature = String(features[i]);
    b.dataset.point = String(i);
    b.title = `#${features[i]}: ${labelText(i)}${hint ? `\n${hint}` : ""}\nclick to select it`;
    if (features[i] === m.get("feature")) b.classList.add("saew-selected");
    b.append(el("span", "saew-map-item-id", `#${features[i]}`), el("span", "saew-map-item-text", labelText(i)));
    if (density !== undefined) {
      const d = el("span", "saew-map-item-density", percent(density));
      d.title = "density: share of tokens on which the feature fires";
      b.append(d);
      if (density > DENSE) b.classList.add("saew-dense");
    }
    return b;
  }
  function showSearchList() {
    const q = m.get("matches");
    listKind = "search";
    if (!q.query) {
      listBox.hidden = true;
      listKind = null;
      return;
    }
    const ids = q.ids ? decode(q.ids).data : [];
    const scores = q.scores ? decode(q.scores).data : [];
    const dens = q.density ? decode(q.density).data : null;
    const rows: HTMLElement[] = [];
    const dense: HTMLElement[] = [];
    let missing = 0;
    ids.forEach((f, j) => {
      const p = pointOf.get(f);
      if (p === undefined) return void missing++;
      const d = dens ? dens[j] : undefined;
      const row = item(p, `score ${Number(scores[j] ?? 0).toFixed(3)}${d !== undefined ? ` · fires on ${percent(d)} of tokens` : ""}`, d);
      (d !== undefined && d > DENSE ? dense : rows).push(row);
    });
    // features that fire on most tokens say little about a word: listed last, apart
    if (dense.length) rows.push(el("div", "saew-map-group", `fire on more than ${DENSE * 100}% of tokens (dense, less specific):`), ...dense);
    listTitle.textContent = ids.length ? `${ids.length} matches for "${q.query}"${missing ? ` (${missing} not on this subsampled map)` : ""}` : `no matches for "${q.query}"`;
    listItems.replaceChildren(...rows);
    listBox.hidden = false;
  }
  function showCluster(c: number) {
    clusterFocus = c;
    listKind = "cluster";
    matchIds = [];
    matchSet = new Set();
    const list = members[c];
    const shown = list.slice(0, CLUSTER_LIST_MAX);
    listTitle.textContent = `cluster "${labels[c]}": ${list.length} features` +
      (list.length > shown.length ? ` (the ${shown.length} nearest its centre listed; all highlighted)` : "");
    listItems.replaceChildren(...shown.map((i) => item(i, `in cluster "${labels[c]}"`)));
    listBox.hidden = false;
    root.dataset.cluster = String(c);
    paint();
    showStatus();
    schedule();
  }
  function closeList() {
    listBox.hidden = true;
    listKind = null;
    if (clusterFocus >= 0) {
      clusterFocus = -1;
      delete root.dataset.cluster;
      paint();
      showStatus();
      schedule();
    }
  }

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
    if (e.button !== 0 || (e.target as HTMLElement).closest?.(".saew-map-label")) return;
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
  const onLabelClick = (e: MouseEvent) => {
    const node = (e.target as HTMLElement).closest?.<HTMLElement>(".saew-map-label");
    if (!node) return;
    e.stopPropagation();
    // a highlighted point (a match, a neighbour) under the label wins: it is what the eye is on
    const [px, py] = local(e);
    const i = pick(px, py);
    if (i >= 0 && (matchSet.has(i) || neighbourIds.includes(i))) {
      m.set("feature", features[i]);
      m.save_changes();
      return onSelected();
    }
    const c = Number(node.dataset.cluster);
    if (c === clusterFocus) closeList();
    else showCluster(c);
  };
  const onListClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    if (target.closest("[data-action=close-list]")) return closeList();
    const b = target.closest<HTMLElement>(".saew-map-item");
    if (!b) return;
    m.set("feature", Number(b.dataset.feature));
    m.save_changes();
    onSelected();
  };
  const onListHover = (e: MouseEvent) => {
    const b = (e.target as HTMLElement).closest?.<HTMLElement>(".saew-map-item");
    const i = b ? Number(b.dataset.point) : -1;
    if (i !== hover) {
      hover = i;
      schedule();
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
    // the old selection's neighbours and a clicked cluster stop being highlighted at once
    hideNeighboursOf = m.get("feature");
    neighbourIds = [];
    root.dataset.neighbours = "0";
    if (clusterFocus >= 0) closeList();
    showKey();
    schedule();
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
  labelLayer.addEventListener("click", onLabelClick);
  listBox.addEventListener("click", onListClick);
  listBox.addEventListener("mouseover", onListHover);
  listBox.addEventListener("mouseleave", onListHover);
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
