// A small activation histogram as inline SVG: bars coloured by the same scale as the tokens (a bar's
// colour is what a token at that activation looks like), heights on a log scale so the rare strong
// activations stay visible next to the many weak ones.
import type { ColourScale } from "./colour";
import { formatValue } from "./features";

const SVG = "http://www.w3.org/2000/svg";
const W = 260;
const H = 84;
const AXIS = 14; // room for the labels under the bars

function node<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function label(x: number, text: string, anchor: string): SVGTextElement {
  const t = node("text", { x, y: H - 2, "text-anchor": anchor, class: "saew-hist-label" });
  t.textContent = text;
  return t;
}

/**
 * Bars for `counts` over equal bins of [0, hi]; `max` is the activation at full colour (the feature's
 * max activation, as in the examples) and `mean` is marked with a tick.
 */
export function histogram(counts: Int32Array, hi: number, max: number, mean: number, scale: ColourScale): SVGSVGElement {
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, class: "saew-hist", role: "img" });
  const title = node("title", {});
  const total = counts.reduce((a, b) => a + b, 0);
  title.textContent = `activation histogram: ${total.toLocaleString("en")} firings, log-scale heights`;
  svg.append(title);
  const n = counts.length;
  const plot = H - AXIS;
  if (n === 0 || total === 0) {
    svg.append(label(W / 2, "never fired", "middle"));
    return svg;
  }
  const top = Math.log1p(Math.max(...counts));
  const bw = W / n;
  counts.forEach((c, i) => {
    if (c <= 0) return;
    const h = Math.max(1, (Math.log1p(c) / top) * (plot - 2));
    const mid = ((i + 0.5) / n) * hi;
    const bar = node("rect", {
      x: (i * bw + 0.5).toFixed(2), y: (plot - h).toFixed(2), width: Math.max(0.5, bw - 1).toFixed(2), height: h.toFixed(2),
      fill: `rgb(${scale.rgb(mid / max).join(" ")})`, class: "saew-hist-bar",
    });
    const tip = node("title", {});
    tip.textContent = `${formatValue((i / n) * hi)}–${formatValue(((i + 1) / n) * hi)}: ${c.toLocaleString("en")}`;
    bar.append(tip);
    svg.append(bar);
  });
  svg.append(node("line", { x1: 0, x2: W, y1: plot + 0.5, y2: plot + 0.5, class: "saew-hist-axis" }));
  if (mean > 0 && hi > 0) {
    const x = (mean / hi) * W;
    svg.append(node("line", { x1: x, x2: x, y1: plot, y2: plot + 4, class: "saew-hist-axis" }));
  }
  svg.append(label(0, "0", "start"), label(W, formatValue(hi), "end"));
  return svg;
}
