// Family tree view (Python side: saewidgets/widgets/family.py). One column per SAE width, narrowest on the
// left; each feature sits beside its parent in the narrower SAE, joined by an edge labelled with the cosine of
// their decoder rows. Hover a node for its top examples; click it to open its card below (`selected`); its ⟲
// button asks Python for that feature's own family. Token and label text is set as text, never HTML.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { connect, el, type Listeners } from "../dom";
import { css } from "../styles";
import { visibleWhitespace } from "../tokens";

export interface Example {
  tokens: string[];
  center: number;
  value: number;
}

export interface TreeNode {
  member: number;
  feature: number;
  parent: number; // index into nodes, -1 for the narrowest ancestor
  relation: string;
  cosine: number | null; // to the parent
  to_query: number;
  label: string;
  explanation: string;
  density: number | null;
  more: number; // children left out of the drawing
  examples: Example[];
  parent_fires?: number | null; // share of its top examples on which its parent fires
  self_fires?: number | null; // the node itself on the same re-read examples (the control)
}

export interface Tree {
  saes: { name: string; width: number }[];
  query: { member: number; feature: number };
  min_cosine: number;
  nodes: TreeNode[];
}

export interface FamilyState {
  tree: Tree;
  selected: { member?: number; feature?: number };
  error: string;
}

const COL_W = 250;
const NODE_W = 200;
const NODE_H = 50;
const ROW_H = 60;

const treeCss = String.raw`
.saew-fam { display: flex; flex-direction: column; gap: 6px; }
.saew-fam-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; }
.saew-fam-title { font-weight: 600; }
.saew-fam-cols { position: relative; display: flex; font-weight: 600; color: var(--saew-muted); }
.saew-fam-cols div { width: ${COL_W}px; flex: 0 0 auto; }
.saew-fam-scroll { overflow-x: auto; }
.saew-fam-canvas { position: relative; }
.saew-fam-canvas svg { position: absolute; left: 0; top: 0; pointer-events: none; }
.saew-fam-edge { stroke: var(--saew-faint); fill: none; }
.saew-fam-edge.saew-weak { stroke-dasharray: 4 3; }
.saew-fam-cos { fill: var(--saew-muted); font-size: 10px; font-family: var(--saew-mono); }
.saew-fam-node {
  position: absolute; width: ${NODE_W}px; height: ${NODE_H}px; padding: 3px 6px; overflow: hidden;
  border: 1px solid var(--saew-border); border-radius: 5px; background: var(--saew-panel); cursor: pointer;
  text-align: left; display: flex; flex-direction: column; justify-content: center; gap: 1px;
}
.saew-fam-node:hover { border-color: var(--saew-accent); }
.saew-fam-node.saew-query { border-width: 2px; border-color: var(--saew-accent); }
.saew-fam-node.saew-open { box-shadow: 0 0 0 3px color-mix(in srgb, var(--saew-accent) 35%, transparent); }
.saew-fam-node.saew-weak { border-style: dashed; }
.saew-fam-id { font-family: var(--saew-mono); font-size: 0.85em; color: var(--saew-muted); }
.saew-fam-label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.saew-fam-root {
  position: absolute; right: 3px; top: 2px; border: none; background: none; cursor: pointer; padding: 0 3px;
  color: var(--saew-muted);
}
.saew-fam-root:hover { color: var(--saew-accent); }
.saew-fam-more { position: absolute; right: 6px; bottom: 2px; font-size: 0.8em; color: var(--saew-muted); }
.saew-fam-ex { font-family: var(--saew-text-font); margin-top: 4px; white-space: pre-wrap; overflow-wrap: anywhere; }
.saew-fam-ex b { background: color-mix(in srgb, var(--saew-accent) 30%, transparent); font-weight: 600; }
`;

/** Rows of the drawing: leaves in depth-first order get one row each, a parent sits at its children's mean. */
export function layoutRows(nodes: TreeNode[]): number[] {
  const children: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    if (n.parent >= 0) children[n.parent].push(i);
  });
  const row = new Array<number>(nodes.length).fill(0);
  let next = 0;
  const place = (i: number): number => {
    if (children[i].length === 0) return (row[i] = next++);
    const ys = children[i].map(place);
    return (row[i] = ys.reduce((a, b) => a + b, 0) / ys.length);
  };
  nodes.forEach((n, i) => {
    if (n.parent < 0) place(i);
  });
  return row;
}

function render({ model, el: host }: Pick<RenderProps<FamilyState>, "model" | "el">) {
  const m = model as AnyModel<FamilyState>;
  const root = el("div", "saew-root saew-fam");
  const style = el("style");
  style.textContent = css + treeCss;
  const head = el("div", "saew-fam-head");
  const title = el("span", "saew-fam-title");
  const hint = el("span", "saew-hint", "hover a feature for its top examples · click to open its card · ⟲ shows its own family");
  head.append(title, hint);
  const error = el("div", "saew-hm-error");
  error.setAttribute("role", "alert");
  const scroll = el("div", "saew-fam-scroll");
  const cols = el("div", "saew-fam-cols");
  const canvas = el("div", "saew-fam-canvas");
  scroll.append(cols, canvas);
  const legend = el("div", "saew-hm-note");
  root.append(style, head, error, scroll, legend);
  host.replaceChildren(root);

  const tooltip = el("div", "saew-tooltip");
  tooltip.setAttribute("role", "tooltip");
  tooltip.hidden = true;
  document.body.append(tooltip);

  const tree = () => m.get("tree") ?? ({ saes: [], nodes: [], query: { member: 0, feature: 0 }, min_cosine: 0 } as Tree);

  function draw() {
    const t = tree();
    const q = t.nodes.find((n) => n.relation === "self");
    title.textContent = q ? `Family of #${q.feature} (${t.saes[q.member]?.name ?? ""}) across ${t.saes.length} SAE widths` : "Family";
    cols.replaceChildren(...t.saes.map((s) => el("div", "", `${s.name}: ${s.width.toLocaleString("en")} latents`)));
    const rows = layoutRows(t.nodes);
    const height = (Math.max(0, ...rows) + 1) * ROW_H;
    const width = t.saes.length * COL_W;
    canvas.style.height = `${height}px`;
    canvas.style.width = `${width}px`;
    const svgNs = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    const sel = m.get("selected") ?? {};
    const boxes: HTMLElement[] = [];
    t.nodes.forEach((n, i) => {
      const x = n.member * COL_W;
      const y = rows[i] * ROW_H;
      if (n.parent >= 0) {
        const p = t.nodes[n.parent];
        const x1 = p.member * COL_W + NODE_W;
        const y1 = rows[n.parent] * ROW_H + NODE_H / 2;
        const path = document.createElementNS(svgNs, "path");
        const mid = (x1 + x) / 2;
        path.setAttribute("d", `M${x1},${y1} C${mid},${y1} ${mid},${y + NODE_H / 2} ${x},${y + NODE_H / 2}`);
        path.setAttribute("class", `saew-fam-edge${n.relation === "closest" ? " saew-weak" : ""}`);
        path.setAttribute("stroke-width", String(0.5 + 3 * Math.max(0, n.cosine ?? 0)));
        svg.append(path);
        const label = document.createElementNS(svgNs, "text");
        label.setAttribute("class", "saew-fam-cos");
        label.setAttribute("x", String(x - 34));
        label.setAttribute("y", String(y + NODE_H / 2 - 3));
        label.textContent = n.cosine === null ? "" : n.cosine.toFixed(2);
        svg.append(label);
      }
      const box = el("div", "saew-fam-node");
      box.setAttribute("role", "button");
      box.tabIndex = 0;
      box.dataset.i = String(i);
      if (n.relation === "self") box.classList.add("saew-query");
      if (n.relation === "closest") box.classList.add("saew-weak");
      if (sel.member === n.member && sel.feature === n.feature) box.classList.add("saew-open");
      box.style.left = `${x}px`;
      box.style.top = `${y}px`;
      const density = n.density === null ? "" : ` · ${(100 * n.density).toPrecision(2)}%`;
      box.append(el("span", "saew-fam-id", `#${n.feature} · ${n.relation}${density}`),
        el("span", "saew-fam-label", n.label || n.explanation || "(no explanation)"));
      const again = el("button", "saew-fam-root", "⟲");
      again.title = `show the family of #${n.feature}`;
      again.dataset.root = String(i);
      box.append(again);
      if (n.more > 0) box.append(el("span", "saew-fam-more", `+${n.more} more`));
      boxes.push(box);
    });
    canvas.replaceChildren(svg, ...boxes);
    legend.textContent = `Edges join a feature to its parent: the feature of the narrower SAE with the closest decoder direction ` +
      `(number: cosine; thicker is closer). Children are drawn when their cosine is at least ${t.min_cosine}; ` +
      `a dashed box is only the closest feature, below that.`;
  }

  function showError() {
    const t = m.get("error");
    error.textContent = t;
    error.hidden = !t;
  }

  function showTooltip(box: HTMLElement, n: TreeNode) {
    const t = tree();
    const parts: HTMLElement[] = [el("div", "saew-tip-head", `#${n.feature} of ${t.saes[n.member]?.name ?? ""} (${n.relation})`)];
    if (n.explanation) parts.push(el("div", "saew-tip-line", n.explanation));
    const facts: string[] = [];
    if (n.cosine !== null) facts.push(`cosine to parent ${n.cosine.toFixed(3)}`);
    facts.push(`to #${t.query.feature}: ${n.to_query.toFixed(3)}`);
    if (n.density !== null) facts.push(`fires on ${(100 * n.density).toPrecision(2)}% of tokens`);
    parts.push(el("div", "saew-hint", facts.join(" · ")));
    if (n.parent_fires != null && n.parent >= 0) {
      const p = t.nodes[n.parent];
      parts.push(el("div", "saew-tip-line", `its parent #${p.feature} fires on ${Math.round(100 * n.parent_fires)}% of these ` +
        `examples (the feature itself: ${Math.round(100 * (n.self_fires ?? 0))}%)`));
    }
    for (const ex of n.examples) {
      const line = el("div", "saew-fam-ex");
      ex.tokens.forEach((tok, j) => {
        if (j === ex.center) line.append(el("b", "", visibleWhitespace(tok)));
        else line.append(document.createTextNode(tok));
      });
      parts.push(line);
    }
    if (n.examples.length === 0) parts.push(el("div", "saew-hint", "no examples in its dashboards"));
    tooltip.replaceChildren(...parts);
    tooltip.hidden = false;
    const r = box.getBoundingClientRect();
    const tip = tooltip.getBoundingClientRect();
    const below = r.bottom + 6 + tip.height <= window.innerHeight;
    tooltip.style.top = `${Math.max(4, below ? r.bottom + 6 : r.top - 6 - tip.height)}px`;
    tooltip.style.left = `${Math.max(4, Math.min(r.left, window.innerWidth - tip.width - 8))}px`;
  }

  const onClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    const again = target.closest<HTMLElement>(".saew-fam-root");
    const nodes = tree().nodes;
    if (again && canvas.contains(again)) {
      const n = nodes[Number(again.dataset.root)];
      if (n) m.send({ type: "root", member: n.member, feature: n.feature });
      return;
    }
    const box = target.closest<HTMLElement>(".saew-fam-node");
    if (!box || !canvas.contains(box)) return;
    const n = nodes[Number(box.dataset.i)];
    if (!n) return;
    m.set("selected", { member: n.member, feature: n.feature });
    m.save_changes();
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      const box = (e.target as HTMLElement).closest<HTMLElement>(".saew-fam-node");
      if (box) {
        e.preventDefault();
        box.click();
      }
    }
  };
  const onOver = (e: MouseEvent) => {
    const box = (e.target as HTMLElement).closest<HTMLElement>(".saew-fam-node");
    const n = box ? tree().nodes[Number(box.dataset.i)] : undefined;
    if (box && n) showTooltip(box, n);
  };
  const onOut = (e: MouseEvent) => {
    if ((e.target as HTMLElement).closest(".saew-fam-node")) tooltip.hidden = true;
  };
  canvas.addEventListener("click", onClick);
  canvas.addEventListener("keydown", onKey);
  canvas.addEventListener("mouseover", onOver);
  canvas.addEventListener("mouseout", onOut);

  const listeners: Listeners = [
    ["change:tree", draw],
    ["change:selected", draw],
    ["change:error", showError],
  ];
  const disconnect = connect(m, listeners, draw);
  draw();
  showError();
  return () => {
    disconnect();
    canvas.removeEventListener("click", onClick);
    tooltip.remove();
  };
}

export default { render };
