// Token heatmap (Python side: saewidgets/widgets/heatmap.py). Python sends, per prompt, the token
// texts and, per token, only its top-k features (ids + activations); the selected feature's column
// arrives separately when `feature` changes. Colours are activations ÷ the feature's max activation.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { connect, el, type Listeners } from "../dom";
import { decodeBytes, decodeFloat, decodeInt, type Payload } from "../codecs";
import { ColourScale, legend } from "../colour";
import { featureList, formatValue, type FeatureRow } from "../features";
import { css } from "../styles";
import { isDark } from "../theme";
import { FLAG_SINK, FLAG_SPECIAL, tokenElement, visibleWhitespace } from "../tokens";

interface PromptPayload {
  tokens: string[];
  flags: Payload; // uint8 [T]
  top_ids: Payload; // int32 [T, k], -1 where fewer than k features fire
  top_values: Payload; // float [T, k]
  notice: string;
}

export interface HeatmapState {
  prompts: PromptPayload[];
  feature: number | null;
  feature_values: { feature: number | null; columns: Payload[] };
  scale: { ids?: Payload; values?: Payload; density?: Payload; source: "stats" | "text" | "none" };
  explanations: Record<string, string>;
  d_sae: number;
  error: string;
}

interface Prompt {
  tokens: string[];
  flags: Uint8Array;
  ids: Int32Array;
  values: Float32Array;
  k: number;
  notice: string;
  spans: HTMLSpanElement[];
}

function loadPrompt(p: PromptPayload): Prompt {
  const ids = decodeInt(p.top_ids);
  return {
    tokens: p.tokens,
    flags: decodeBytes(p.flags).data,
    ids: ids.data,
    values: decodeFloat(p.top_values).data,
    k: ids.shape[1] ?? 0,
    notice: p.notice,
    spans: [],
  };
}

/** Features firing on more than this share of tokens are dense: ranked after the others, set apart. */
export const DENSE = 0.1;
/** What a feature list's bars measure, said under every list. */
export const BAR_CAPTION = "bar = activation as share of the feature's maximum";

const hmCss = String.raw`
.saew-feat-density { color: var(--saew-muted); font-size: 0.9em; margin-right: 6px; }
.saew-feat.saew-dense .saew-feat-id, .saew-feat.saew-dense .saew-feat-value { color: var(--saew-muted); }
.saew-feats-group { color: var(--saew-muted); font-size: 0.88em; margin: 4px 0 1px; border-top: 1px dashed var(--saew-border); padding-top: 2px; }
.saew-feats-caption { margin-top: 3px; }
.saew-hm-legend { display: inline-flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; }
`;

/** Dense features after the others (each group in its own order: strongest activation first). */
export function rankRows(rows: FeatureRow[]): FeatureRow[] {
  return [...rows.filter((r) => !r.dense), ...rows.filter((r) => r.dense)];
}

function render({ model, el: host }: Pick<RenderProps<HeatmapState>, "model" | "el">) {
  const m = model as AnyModel<HeatmapState>;
  const root = el("div", "saew-root saew-heatmap");
  const style = el("style");
  style.textContent = css + hmCss;

  const bar = el("div", "saew-hm-bar");
  const mode = el("span", "saew-hm-mode");
  const clear = el("button", "saew-btn saew-hm-clear", "show strongest");
  clear.type = "button";
  clear.title = "colour each token by its strongest feature";
  const pick = el("label", "saew-hm-pick", "feature");
  const input = el("input");
  input.type = "number";
  input.min = "0";
  input.step = "1";
  input.placeholder = "#";
  pick.append(input);
  const legendSlot = el("span", "saew-hm-legend");
  const controls = el("span", "saew-hm-controls");
  controls.append(pick, clear);
  bar.append(mode, legendSlot, controls);

  const error = el("div", "saew-hm-error");
  error.setAttribute("role", "alert");
  const note = el("div", "saew-hm-note");
  const main = el("div", "saew-hm-main");
  const promptsBox = el("div", "saew-hm-prompts");
  const pinned = el("aside", "saew-hm-pinned");
  main.append(promptsBox, pinned);
  root.append(style, bar, error, note, main);
  host.replaceChildren(root);

  // The tooltip lives on <body>: notebook cells may clip or contain fixed-position children.
  const tooltip = el("div", "saew-tooltip");
  tooltip.setAttribute("role", "tooltip");
  tooltip.hidden = true;
  document.body.append(tooltip);

  let prompts: Prompt[] = [];
  let columns: { feature: number; data: Float32Array[] } | null = null; // the selected feature, per prompt
  let maxima = new Map<number, number>(); // from Python: max activation of every feature shown
  let densities = new Map<number, number>(); // from Python: firing density of every feature shown
  const fallback = new Map<number, number>(); // for any feature Python left out: its max seen here
  let scale = new ColourScale(isDark(host));
  let pin: { p: number; i: number } | null = null;
  let localError = "";

  const feature = () => m.get("feature");
  const explanation = (f: number) => m.get("explanations")?.[String(f)] ?? "";
  // the column on hand belongs to the selected feature (it arrives just after `feature` changes)
  const columnsReady = () => columns !== null && columns.feature === feature();

  /** The feature's max activation (the colour scale's top); falls back to its max in the data here. */
  function maxOf(f: number): number {
    const known = maxima.get(f) ?? fallback.get(f);
    if (known !== undefined && known > 0) return known;
    let best = 0;
    for (const p of prompts) for (let j = 0; j < p.ids.length; j++) if (p.ids[j] === f) best = Math.max(best, p.values[j]);
    if (columns?.feature === f) for (const c of columns.data) for (const v of c) best = Math.max(best, v);
    fallback.set(f, best > 0 ? best : 1);
    return fallback.get(f)!;
  }

  function rowsFor(p: Prompt, i: number): FeatureRow[] {
    const rows: FeatureRow[] = [];
    for (let j = i * p.k; j < (i + 1) * p.k; j++) {
      const f = p.ids[j];
      if (f < 0 || !(p.values[j] > 0)) continue;
      const density = densities.get(f);
      rows.push({ feature: f, value: p.values[j], t: p.values[j] / maxOf(f), explanation: explanation(f), density,
        dense: density !== undefined && density > DENSE });
    }
    return rankRows(rows);
  }

  /** A token's features: the specific ones, then the dense ones under their own heading, then what bars mean. */
  function rowsList(p: Prompt, i: number, interactive: boolean): HTMLElement {
    const rows = rowsFor(p, i);
    const specific = rows.filter((r) => !r.dense);
    const dense = rows.filter((r) => r.dense);
    const box = el("div", "saew-feats-box");
    // "no active features" only when nothing fires at all (not when only dense features do)
    if (specific.length || !dense.length) box.append(featureList(specific, scale, { interactive, selected: feature() }));
    if (dense.length) {
      box.append(el("div", "saew-feats-group", `fire on most tokens (more than ${DENSE * 100}%), so say little about this one:`),
        featureList(dense, scale, { interactive, selected: feature() }));
    }
    box.append(el("div", "saew-hint saew-feats-caption", BAR_CAPTION));
    return box;
  }

  // ---- reading the model

  function loadScale() {
    const s = m.get("scale");
    maxima = new Map();
    densities = new Map();
    if (s?.ids && s?.values) {
      const ids = decodeInt(s.ids).data;
      const values = decodeFloat(s.values).data;
      ids.forEach((f, j) => maxima.set(f, values[j]));
      if (s.density) {
        const d = decodeFloat(s.density).data;
        ids.forEach((f, j) => densities.set(f, d[j]));
      }
    }
  }

  function loadColumns() {
    const fv = m.get("feature_values");
    columns = fv && fv.feature !== null ? { feature: fv.feature, data: fv.columns.map((c) => decodeFloat(c).data) } : null;
    fallback.clear();
  }

  function loadPrompts() {
    prompts = (m.get("prompts") ?? []).map(loadPrompt);
    fallback.clear();
    pin = null;
    const several = prompts.length > 1;
    const blocks = prompts.map((p, n) => {
      const block = el("div", "saew-hm-prompt");
      block.dataset.p = String(n);
      if (several) block.append(el("div", "saew-hm-meta", `prompt ${n + 1} · ${p.tokens.length} tokens`));
      if (p.notice) block.append(el("div", "saew-notice", p.notice));
      if (p.tokens.length === 0) {
        if (!p.notice) block.append(el("div", "saew-empty", "(empty text)"));
        return block;
      }
      const text = el("div", "saew-hm-text");
      const fragment = document.createDocumentFragment();
      p.spans = p.tokens.map((piece, i) => {
        const span = tokenElement(piece, p.flags[i], i);
        fragment.append(span);
        return span;
      });
      text.append(fragment);
      block.append(text);
      return block;
    });
    if (prompts.every((p) => p.tokens.length === 0 && !p.notice)) {
      blocks.splice(0, blocks.length, el("div", "saew-empty", "Nothing to show: the text is empty. Try lab.heatmap(\"The Golden Gate Bridge\")."));
    }
    promptsBox.replaceChildren(...blocks);
  }

  // ---- drawing

  function paint() {
    const f = feature();
    const byFeature = columnsReady();
    if (f !== null && !byFeature) return; // keep the old colours until the column arrives
    const top = byFeature ? maxOf(f as number) : 1;
    for (const [n, p] of prompts.entries()) {
      const column = byFeature ? columns!.data[n] : null;
      for (let i = 0; i < p.spans.length; i++) {
        let t = 0;
        if (p.flags[i] & FLAG_SINK) t = 0;
        else if (column) t = column[i] / top;
        else if (p.k > 0 && p.ids[i * p.k] >= 0) {
          // the strongest feature that is not dense (one firing on most tokens would colour everything)
          let j = i * p.k;
          for (let q = i * p.k; q < (i + 1) * p.k; q++) {
            const d = densities.get(p.ids[q]);
            if (p.ids[q] >= 0 && p.values[q] > 0 && !(d !== undefined && d > DENSE)) { j = q; break; }
          }
          t = p.values[j] / maxOf(p.ids[j]);
        }
        const swatch = scale.swatch(t);
        const s = p.spans[i].style;
        s.backgroundColor = swatch ? swatch.background : "";
        s.color = swatch ? swatch.text : "";
      }
    }
  }

  function header() {
    const f = feature();
    mode.replaceChildren();
    if (f === null) {
      mode.textContent = "Colour: strongest feature per token";
    } else {
      mode.append(`Colour: feature #${f}`);
      const text = explanation(f);
      if (text) mode.append(el("span", "saew-hm-expl", text));
      if (!columnsReady()) mode.append(el("span", "saew-hm-expl", "loading…"));
    }
    clear.hidden = f === null;
    if (document.activeElement !== input) input.value = f === null ? "" : String(f);
    const d = m.get("d_sae");
    if (d) {
      input.max = String(d - 1);
      input.title = `a feature index, 0 to ${d - 1}`;
    }

    const source = m.get("scale")?.source ?? "none";
    if (f === null) {
      const what = densities.size ? "strongest non-dense feature's" : "strongest feature's";
      legendSlot.replaceChildren(el("span", "saew-hint", `colour = each token's ${what} activation ÷ its max`),
        legend(scale, "0", "1 × max", "each token's strongest activation ÷ that feature's max activation" +
          (densities.size ? ` (features firing on more than ${DENSE * 100}% of tokens are skipped)` : "")));
    } else {
      const max = formatValue(maxOf(f));
      legendSlot.replaceChildren(el("span", "saew-hint", `colour = feature #${f}'s activation`),
        legend(scale, "0", `${max} max`, `feature #${f}'s activation; its max activation is ${max}`));
    }
    note.textContent =
      source !== "text" ? "" : "This SAE has no activation statistics, so colours are scaled to each feature's maximum in the text shown here: they can't be compared with other heatmaps.";
    note.hidden = !note.textContent;
    const message = localError || m.get("error");
    error.textContent = message;
    error.hidden = !message;
  }

  function showPinned() {
    root.querySelector(".saew-pinned")?.classList.remove("saew-pinned");
    pinned.hidden = pin === null;
    if (pin === null) return pinned.replaceChildren();
    const p = prompts[pin.p];
    p.spans[pin.i].classList.add("saew-pinned");
    const head = el("div", "saew-hm-pinned-head");
    head.append(el("span", "saew-chip", visibleWhitespace(p.tokens[pin.i])), el("span", "saew-hint", `token ${pin.i}`));
    const close = el("button", "saew-btn", "×");
    close.type = "button";
    close.title = "unpin (Esc)";
    close.dataset.action = "unpin";
    head.append(close);
    const hint = el("div", "saew-hint", "click a feature to colour the text by it");
    pinned.replaceChildren(head, rowsList(p, pin.i, true), hint);
  }

  function showTooltip(span: HTMLElement, p: Prompt, i: number) {
    const head = el("div", "saew-tip-head");
    head.append(el("span", "saew-chip", visibleWhitespace(p.tokens[i])), el("span", "saew-hint", `token ${i}`));
    const parts: HTMLElement[] = [head];
    if (p.flags[i] & FLAG_SINK) parts.push(el("div", "saew-tip-line saew-hint", "attention sink: left out of the analysis"));
    if (p.flags[i] & FLAG_SPECIAL) parts.push(el("div", "saew-tip-line saew-hint", "special token"));
    const f = feature();
    if (f !== null && columnsReady()) {
      const n = prompts.indexOf(p);
      parts.push(el("div", "saew-tip-line", `feature #${f}: ${formatValue(columns!.data[n][i])}`));
    }
    parts.push(rowsList(p, i, false));
    parts.push(el("div", "saew-hint", "click to pin"));
    tooltip.replaceChildren(...parts);
    tooltip.hidden = false;
    // below the token, flipped above or shifted left where the window ends
    const r = span.getBoundingClientRect();
    const t = tooltip.getBoundingClientRect();
    const below = r.bottom + 6 + t.height <= window.innerHeight;
    tooltip.style.top = `${Math.max(4, below ? r.bottom + 6 : r.top - 6 - t.height)}px`;
    tooltip.style.left = `${Math.max(4, Math.min(r.left, window.innerWidth - t.width - 8))}px`;
  }

  function hideTooltip() {
    tooltip.hidden = true;
  }

  // ---- events (delegated: one listener for thousands of tokens)

  function locate(target: EventTarget | null): { span: HTMLElement; p: number; i: number } | null {
    const span = (target as HTMLElement | null)?.closest?.<HTMLElement>(".saew-tok");
    const block = span?.closest<HTMLElement>(".saew-hm-prompt");
    if (!span || !block || !root.contains(block)) return null;
    return { span, p: Number(block.dataset.p), i: Number(span.dataset.i) };
  }

  function selectFeature(f: number | null) {
    localError = "";
    m.set("error", "");
    m.set("feature", f);
    m.save_changes();
  }

  const onOver = (e: MouseEvent) => {
    const at = locate(e.target);
    if (at) showTooltip(at.span, prompts[at.p], at.i);
  };
  const onOut = (e: MouseEvent) => {
    if (!locate(e.relatedTarget)) hideTooltip();
  };
  const onClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    const button = target.closest<HTMLElement>("button.saew-feat");
    if (button) return selectFeature(Number(button.dataset.feature));
    if (target.closest("[data-action=unpin]")) {
      pin = null;
      return showPinned();
    }
    const at = locate(target);
    if (!at) return;
    pin = pin && pin.p === at.p && pin.i === at.i ? null : { p: at.p, i: at.i };
    showPinned();
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape" && pin) {
      pin = null;
      showPinned();
    }
  };
  const onInput = (e: KeyboardEvent) => {
    if (e.key !== "Enter") return;
    const text = input.value.trim();
    if (text === "") return selectFeature(null);
    if (!/^\d+$/.test(text)) {
      localError = `feature must be a whole number from 0 to ${m.get("d_sae") - 1} (got "${text}").`;
      return header();
    }
    selectFeature(Number(text));
  };
  const onClear = () => selectFeature(null);

  root.addEventListener("mouseover", onOver);
  root.addEventListener("mouseout", onOut);
  root.addEventListener("click", onClick);
  root.addEventListener("keydown", onKey);
  input.addEventListener("keydown", onInput);
  clear.addEventListener("click", onClear);
  window.addEventListener("scroll", hideTooltip, { capture: true, passive: true });

  // ---- model changes

  const onPrompts = () => {
    loadPrompts();
    loadColumns();
    paint();
    header();
    showPinned();
  };
  const onFeature = () => {
    paint();
    header();
    showPinned();
  };
  const onColumns = () => {
    loadColumns();
    onFeature();
  };
  const onScale = () => {
    loadScale();
    paint();
    header();
  };
  const onTheme = () => {
    scale = new ColourScale(isDark(host));
    paint();
    header();
    showPinned();
  };
  const listeners: Listeners = [
    ["change:prompts", onPrompts],
    ["change:feature", onFeature],
    ["change:feature_values", onColumns],
    ["change:scale", onScale],
    ["change:explanations", onFeature],
    ["change:error", header],
  ];
  const disconnect = connect(m, listeners, onTheme);

  loadScale();
  onPrompts();

  return () => {
    disconnect();
    window.removeEventListener("scroll", hideTooltip, { capture: true });
    tooltip.remove();
  };
}

export default { render };
