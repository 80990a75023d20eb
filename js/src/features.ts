// A compact list of features with their activations: used in tooltips (read-only) and in the pinned
// panel (buttons that select a feature). Explanations are model/user text, so text nodes only.
import type { ColourScale } from "./colour";

export interface FeatureRow {
  feature: number;
  value: number; // raw activation
  t: number; // activation ÷ the feature's max, for the bar
  explanation?: string;
  density?: number; // share of tokens on which the feature fires (when the SAE's statistics have it)
  dense?: boolean; // fires on most tokens: shown apart, muted
}

/** "34%", "0.12%": a density for people. */
export function formatShare(p: number): string {
  if (!(p > 0)) return "0%";
  return p >= 0.01 ? `${(p * 100).toFixed(p >= 0.1 ? 0 : 1)}%` : `${(p * 100).toPrecision(2)}%`;
}

export function formatValue(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function cell(className: string, text: string): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

export function featureList(
  rows: FeatureRow[],
  scale: ColourScale,
  options: { interactive: boolean; selected?: number | null },
): HTMLElement {
  const list = document.createElement("div");
  list.className = "saew-feats";
  if (rows.length === 0) {
    list.append(cell("saew-feats-empty", "no active features"));
    return list;
  }
  for (const row of rows) {
    const item = document.createElement(options.interactive ? "button" : "div");
    item.className = "saew-feat";
    if (item instanceof HTMLButtonElement) {
      item.type = "button";
      item.title = `colour the text by feature #${row.feature}`;
    }
    item.dataset.feature = String(row.feature);
    if (row.feature === options.selected) item.classList.add("saew-selected");
    if (row.dense) item.classList.add("saew-dense");
    const bar = document.createElement("span");
    bar.className = "saew-feat-bar";
    bar.title = `activation ${formatValue(row.value)} = ${Math.round(row.t * 100)}% of feature #${row.feature}'s maximum`;
    const fill = document.createElement("span");
    fill.style.width = `${Math.round(Math.min(1, Math.max(0, row.t)) * 100)}%`;
    fill.style.background = scale.swatch(Math.max(row.t, 0.02))?.background ?? "";
    bar.append(fill);
    item.append(
      cell("saew-feat-id", `#${row.feature}`),
      bar,
      cell("saew-feat-value", formatValue(row.value)),
      cell("saew-feat-expl", row.explanation ?? ""),
    );
    if (row.density !== undefined) {
      const d = cell("saew-feat-density", row.dense ? `dense: fires on ${formatShare(row.density)}` : formatShare(row.density));
      d.title = "density: share of tokens on which the feature fires";
      item.lastElementChild!.prepend(d);
    }
    list.append(item);
  }
  return list;
}
