// Attribution view (Python side: saewidgets/widgets/attribution.py). Python sends the prompt's and the
// reply's tokens once; a click on a token (or on the slot after the reply) asks Python to attribute that
// token, and the answer arrives in `result`: the features that pushed it up and down (bars) and, per
// feature, its attribution at every position, which colours the text. A bar click selects the feature
// (`feature`, linked to a card); ablate / steer ask Python to re-run, answered in `test_result`.
// All token and label text is set as text (textContent), never HTML.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { connect, el, type Listeners } from "../dom";
import { decodeBytes, decodeFloat, type Payload } from "../codecs";
import { luminance } from "../colour";
import { formatValue } from "../features";
import { css } from "../styles";
import { isDark } from "../theme";
import { FLAG_SINK, FLAG_SPECIAL, tokenElement, visibleWhitespace } from "../tokens";

export interface Bar {
  feature: number;
  attribution: number;
  activation: number;
  label: string;
}

export interface AttributionResult {
  id?: number;
  index?: number;
  status?: "running" | "done" | "error";
  target?: { token: string; probability: number; value: number; method: string; position: number };
  bars?: Bar[];
  error?: number;
  total?: number;
  linearised?: number;
  positions?: Payload; // float32 [bars + 2, T]: each bar's attribution per position, then the total, then the error
  seconds?: number;
}

export interface TestResult {
  id?: number;
  index?: number;
  feature?: number;
  action?: "ablate" | "steer";
  strength?: number;
  status?: "running" | "done" | "error";
  token?: string;
  before?: number;
  after?: number;
  top_after?: string;
  top_after_probability?: number;
}

export interface AttributionState {
  prompt: string;
  pieces: string[];
  flags: Payload;
  n_prompt: number;
  method: string;
  selected: number | null;
  result: AttributionResult;
  test_result: TestResult;
  steer_strength: number;
  feature: number | null;
  d_sae: number;
  error: string;
}

const attrCss = String.raw`
.saew-attr { display: flex; flex-direction: column; gap: 8px; }
.saew-at-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; }
.saew-at-title { font-weight: 600; }
.saew-at-status { color: var(--saew-muted); font-size: 0.92em; }
.saew-at-text .saew-at-role { display: inline-block; color: var(--saew-muted); font-family: var(--saew-ui-font);
  font-size: 0.8em; margin: 0 6px 0 0; text-transform: uppercase; letter-spacing: 0.04em; }
.saew-at-text .saew-at-role.saew-at-reply-role { margin-left: 4px; }
.saew-tok.saew-at-target { text-decoration: underline dotted var(--saew-faint); text-underline-offset: 3px; }
.saew-tok.saew-at-chosen { outline: 2px solid var(--saew-accent); outline-offset: 1px; }
.saew-at-next { font-family: var(--saew-mono); font-size: 0.85em; margin-left: 4px; padding: 0 6px; }
.saew-at-next.saew-at-chosen { outline: 2px solid var(--saew-accent); outline-offset: 1px; }
.saew-at-target-line { font-size: 1.02em; }
.saew-at-target-line b { font-variant-numeric: tabular-nums; }
.saew-at-cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 8px 16px; }
.saew-at-col h4 { margin: 0 0 4px; font-size: 0.95em; }
.saew-at-bar {
  display: grid; grid-template-columns: 4.6em minmax(60px, 1fr) 4.2em minmax(0, 1.4fr); align-items: center; gap: 6px;
  width: 100%; text-align: left; padding: 2px 4px; border: 1px solid transparent; border-radius: 3px; background: none;
  cursor: pointer;
}
.saew-at-bar:hover, .saew-at-bar:focus-visible { border-color: var(--saew-accent); outline: none; }
.saew-at-bar.saew-selected { border-color: var(--saew-accent); background: var(--saew-subtle); }
.saew-at-bar.saew-at-err { cursor: default; color: var(--saew-muted); }
.saew-at-track { height: 10px; background: var(--saew-subtle); border-radius: 2px; overflow: hidden; }
.saew-at-track > span { display: block; height: 100%; }
.saew-at-val { font-variant-numeric: tabular-nums; text-align: right; }
.saew-at-label { color: var(--saew-muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.saew-at-sum { color: var(--saew-muted); font-size: 0.9em; }
.saew-at-test { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; padding: 6px 8px;
  border: 1px solid var(--saew-border); border-radius: 4px; background: var(--saew-panel); }
.saew-at-test input { width: 5em; padding: 1px 4px; border: 1px solid var(--saew-border); border-radius: 3px; background: var(--saew-bg); }
.saew-at-test button:disabled { opacity: 0.5; cursor: default; }
.saew-at-outcome { font-variant-numeric: tabular-nums; }
.saew-at-outcome .saew-at-down { color: var(--saew-at-neg); font-weight: 600; }
.saew-at-outcome .saew-at-up { color: var(--saew-at-pos); font-weight: 600; }
.saew-at-legend { display: inline-flex; align-items: center; gap: 6px; color: var(--saew-muted); font-size: 0.9em; }
.saew-at-legend span.saew-at-sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
.saew-hm-error[hidden], .saew-at-test[hidden] { display: none; }
`;

// Diverging colours (PuOr, colour-blind safe): orange pushes the target up, purple pushes it down.
type RGB = [number, number, number];
const POS: RGB = [230, 97, 1];
const NEG: RGB = [94, 60, 153];
const POS_DARK: RGB = [253, 184, 99];
const NEG_DARK: RGB = [178, 171, 210];

function mix(a: RGB, b: RGB, t: number): RGB {
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * t)) as RGB;
}

/** Background and text for a signed attribution t ∈ [-1, 1], blended over the page background. */
export function diverging(t: number, dark: boolean): { background: string; text: string } | null {
  if (!Number.isFinite(t) || Math.abs(t) < 0.02) return null;
  const page: RGB = dark ? [17, 17, 17] : [255, 255, 255];
  const hue = t > 0 ? (dark ? POS_DARK : POS) : dark ? NEG_DARK : NEG;
  const rgb = mix(page, hue, 0.2 + 0.8 * Math.min(1, Math.abs(t)));
  return { background: `rgb(${rgb.join(" ")})`, text: luminance(rgb) > 0.18 ? "#000" : "#fff" };
}

/** An attribution for people: small ones keep two significant digits instead of showing as 0.00. */
export function fmtAttr(v: number): string {
  const a = Math.abs(v);
  const sign = v > 0 ? "+" : v < 0 ? "−" : "";
  if (a === 0) return "0";
  const body = a >= 10 ? a.toFixed(1) : a >= 0.1 ? a.toFixed(2) : a >= 0.001 ? a.toFixed(3) : a.toExponential(1);
  return sign + body;
}

function fmtProb(p: number | undefined): string {
  if (p === undefined || !Number.isFinite(p)) return "–";
  return p >= 0.01 ? p.toFixed(3) : p.toExponential(1);
}

function render({ model, el: host }: Pick<RenderProps<AttributionState>, "model" | "el">) {
  const m = model as AnyModel<AttributionState>;
  const root = el("div", "saew-root saew-attr");
  const style = el("style");
  style.textContent = css + attrCss;

  const head = el("div", "saew-at-head");
  const title = el("span", "saew-at-title", "Why did the model say that?");
  const hint = el("span", "saew-hint", "click a reply token (or next →) to see the features that pushed it up and down");
  const status = el("span", "saew-at-status");
  status.setAttribute("aria-live", "polite");
  head.append(title, hint, status);
  const error = el("div", "saew-hm-error");
  error.setAttribute("role", "alert");
  const text = el("div", "saew-hm-text saew-at-text");
  const targetLine = el("div", "saew-at-target-line");
  const legendBox = el("div", "saew-at-legend");
  const cols = el("div", "saew-at-cols");
  const sums = el("div", "saew-at-sum");
  const test = el("div", "saew-at-test");
  root.append(style, head, error, text, targetLine, legendBox, cols, sums, test);
  host.replaceChildren(root);

  const tooltip = el("div", "saew-tooltip");
  tooltip.setAttribute("role", "tooltip");
  tooltip.hidden = true;
  document.body.append(tooltip);

  let dark = isDark(host);
  let spans: HTMLSpanElement[] = [];
  let next: HTMLButtonElement | null = null;
  let rows: Float32Array[] = []; // per bar (then total, error): attribution at each position
  let requests = 0;
  let localError = "";

  const result = () => m.get("result") ?? {};
  const bars = () => result().bars ?? [];
  const ready = () => result().status === "done" && result().index === m.get("selected");

  function showError() {
    const t = localError || m.get("error");
    error.textContent = t;
    error.hidden = !t;
  }

  // ---- tokens

  function drawTokens() {
    const pieces = m.get("pieces");
    const flags = decodeBytes(m.get("flags")).data;
    const n = m.get("n_prompt");
    const parts: Node[] = [el("span", "saew-at-role", "prompt")];
    spans = pieces.map((piece, i) => {
      const span = tokenElement(piece, flags[i] ?? 0, i);
      if (i >= 1) span.classList.add("saew-at-target");
      return span;
    });
    spans.forEach((span, i) => {
      if (i === n) parts.push(el("span", "saew-at-role saew-at-reply-role", "reply"));
      parts.push(span);
    });
    next = el("button", "saew-btn saew-at-next", "next →");
    next.type = "button";
    next.title = "the token the model would write next: its top prediction";
    next.dataset.i = String(pieces.length);
    parts.push(next);
    text.replaceChildren(...parts);
    paint();
  }

  /** The values colouring the text: the selected feature's row when it is a bar, else the total. */
  function shownRow(): { values: Float32Array | null; what: string } {
    if (!ready() || rows.length === 0) return { values: null, what: "" };
    const f = m.get("feature");
    const b = bars().findIndex((bar) => bar.feature === f);
    if (b >= 0) return { values: rows[b], what: `feature #${f}` };
    return { values: rows[bars().length], what: "all features and the error" };
  }

  function paint() {
    const sel = m.get("selected");
    const { values } = shownRow();
    let top = 0;
    if (values) for (let i = 0; i < values.length; i++) top = Math.max(top, Math.abs(values[i]));
    spans.forEach((span, i) => {
      span.classList.toggle("saew-at-chosen", i === sel);
      const sw = values && top > 0 && i < values.length ? diverging(values[i] / top, dark) : null;
      span.style.background = sw?.background ?? "";
      span.style.color = sw?.text ?? "";
    });
    next?.classList.toggle("saew-at-chosen", sel === spans.length);
  }

  // ---- the answer: target line, bars, test panel

  function barRow(bar: Bar, scaleTop: number, selected: boolean): HTMLElement {
    const item = el("button", "saew-at-bar");
    item.type = "button";
    item.dataset.feature = String(bar.feature);
    item.classList.toggle("saew-selected", selected);
    item.title = `feature #${bar.feature} (${bar.label || "no label"}): attribution ${fmtAttr(bar.attribution)}, ` +
      `summed over positions; strongest activation here ${formatValue(bar.activation)}. Click to open its card ` +
      "and colour the text by where it pushed.";
    const track = el("span", "saew-at-track");
    const fill = el("span");
    fill.style.width = `${Math.round(Math.min(1, Math.abs(bar.attribution) / (scaleTop || 1)) * 100)}%`;
    fill.style.background = diverging(Math.sign(bar.attribution), dark)?.background ?? "";
    track.append(fill);
    item.append(el("span", "saew-feat-id", `#${bar.feature}`), track,
      el("span", "saew-at-val", fmtAttr(bar.attribution)),
      el("span", "saew-at-label", bar.label));
    return item;
  }

  function drawResult() {
    const r = result();
    rows = [];
    if (r.positions && r.status === "done") {
      const arr = decodeFloat(r.positions);
      const T = arr.shape[1] ?? 0;
      for (let b = 0; b < (arr.shape[0] ?? 0); b++) rows.push(arr.data.subarray(b * T, (b + 1) * T));
    }
    const sel = m.get("selected");
    const pending = sel !== null && !ready() && r.status !== "error";
    root.classList.toggle("saew-loading", pending);
    status.textContent = pending ? "attributing…" : r.status === "done" && r.seconds !== undefined ? `done in ${r.seconds} s` : "";
    if (!ready() || !r.target) {
      targetLine.replaceChildren(el("span", "saew-hint", sel === null ? "nothing selected" : pending ? "attributing…" : ""));
      cols.replaceChildren();
      sums.textContent = "";
      legendBox.replaceChildren();
      drawTest();
      paint();
      return;
    }
    const t = r.target;
    const what = sel === spans.length ? "next token" : `token ${sel}`;
    const line: (Node | string)[] = [`Target (${what}): `, el("span", "saew-chip", visibleWhitespace(t.token)), "  p = ",
      el("b", "", fmtProb(t.probability)), `  ·  ${t.method === "logit" ? "logit" : "log p"} = `,
      el("b", "", formatValue(t.value))];
    targetLine.replaceChildren(...line);
    const f = m.get("feature");
    const all = bars();
    const top = Math.max(1e-12, ...all.map((b) => Math.abs(b.attribution)), Math.abs(r.error ?? 0));
    const up = el("div", "saew-at-col saew-at-up-col");
    up.append(el("h4", "", "pushed up"));
    const down = el("div", "saew-at-col saew-at-down-col");
    down.append(el("h4", "", "pushed down"));
    for (const bar of all) (bar.attribution > 0 ? up : down).append(barRow(bar, top, bar.feature === f));
    if (!up.querySelector(".saew-at-bar")) up.append(el("div", "saew-empty", "none"));
    if (!down.querySelector(".saew-at-bar")) down.append(el("div", "saew-empty", "none"));
    const err = el("div", "saew-at-bar saew-at-err");
    err.title = "the SAE's reconstruction error: what its features do not explain, attributed as one node";
    const track = el("span", "saew-at-track");
    const fill = el("span");
    fill.style.width = `${Math.round(Math.min(1, Math.abs(r.error ?? 0) / top) * 100)}%`;
    fill.style.background = "var(--saew-faint)";
    track.append(fill);
    err.append(el("span", "saew-feat-id", "error"), track, el("span", "saew-at-val", fmtAttr(r.error ?? 0)),
      el("span", "saew-at-label", "SAE error"));
    ((r.error ?? 0) > 0 ? up : down).append(err);
    cols.replaceChildren(up, down);
    sums.textContent = `all features + error = ${fmtAttr(r.total ?? 0)} (linearised total ${fmtAttr(r.linearised ?? 0)}); ` +
      `attribution = activation × gradient of ${t.method === "logit" ? "the logit" : "log p"}`;
    const shown = shownRow();
    const posSw = diverging(1, dark), negSw = diverging(-1, dark);
    const sw = (c: string) => {
      const s = el("span", "saew-at-sw");
      s.style.background = c;
      return s;
    };
    legendBox.replaceChildren(`text coloured by ${shown.what}:`, sw(posSw!.background), "pushed up", sw(negSw!.background), "pushed down");
    drawTest();
    paint();
  }

  function drawTest() {
    const f = m.get("feature");
    const r = result();
    test.hidden = f === null || !ready();
    if (test.hidden) return test.replaceChildren();
    const tr = m.get("test_result") ?? {};
    const ablate = el("button", "saew-btn saew-at-ablate", `ablate #${f}`);
    ablate.type = "button";
    ablate.title = "set the feature to zero at every position and re-run: the target's probability before and after";
    const steer = el("button", "saew-btn saew-at-steer", `steer #${f}`);
    steer.type = "button";
    steer.title = "clamp the feature to this many × its maximum activation at every position and re-run";
    const strength = el("input", "saew-at-strength");
    strength.type = "number";
    strength.step = "0.25";
    strength.value = String(m.get("steer_strength"));
    strength.setAttribute("aria-label", "steer strength (× max activation)");
    const outcome = el("span", "saew-at-outcome");
    const mine = tr.feature === f && tr.index === m.get("selected");
    const running = mine && tr.status === "running";
    ablate.disabled = steer.disabled = running;
    if (running) outcome.textContent = "re-running…";
    else if (mine && tr.status === "done" && tr.before !== undefined && tr.after !== undefined) {
      const verb = tr.action === "ablate" ? `ablated #${f}` : `#${f} steered to ${tr.strength}× max`;
      const arrow = el("b", tr.after < tr.before ? "saew-at-down" : "saew-at-up", fmtProb(tr.after));
      outcome.append(`${verb}: p(`, el("span", "saew-chip", visibleWhitespace(tr.token ?? "")), ") ",
        el("b", "saew-at-before", fmtProb(tr.before)), " → ", arrow);
      if (tr.top_after !== undefined) {
        outcome.append("  ·  top after: ", el("span", "saew-chip", visibleWhitespace(tr.top_after)),
          ` ${fmtProb(tr.top_after_probability)}`);
      }
      arrow.classList.add("saew-at-after");
    }
    const steerLabel = el("label", "saew-hm-pick", "× max");
    steerLabel.prepend(strength);
    test.replaceChildren(el("span", "", `Test #${f} on ${r.target ? "this target" : ""}:`), ablate, steer, steerLabel, outcome);
  }

  // ---- tooltip

  function showTooltip(span: HTMLElement, i: number) {
    const pieces = m.get("pieces");
    const flags = decodeBytes(m.get("flags")).data;
    const headLine = el("div", "saew-tip-head");
    headLine.append(el("span", "saew-chip", visibleWhitespace(pieces[i] ?? "")), el("span", "saew-hint", `token ${i}`));
    const parts: HTMLElement[] = [headLine];
    if ((flags[i] ?? 0) & FLAG_SINK) parts.push(el("div", "saew-tip-line saew-hint", "attention sink: left out of attribution"));
    if ((flags[i] ?? 0) & FLAG_SPECIAL) parts.push(el("div", "saew-tip-line saew-hint", "special token"));
    const shown = shownRow();
    if (shown.values && i < shown.values.length && i <= (result().target?.position ?? -1)) {
      parts.push(el("div", "saew-tip-line", `${shown.what}: ${fmtAttr(shown.values[i])} here`));
    }
    if (i >= 1) parts.push(el("div", "saew-hint", "click to explain this token"));
    tooltip.replaceChildren(...parts);
    tooltip.hidden = false;
    const r = span.getBoundingClientRect();
    const t = tooltip.getBoundingClientRect();
    const below = r.bottom + 6 + t.height <= window.innerHeight;
    tooltip.style.top = `${Math.max(4, below ? r.bottom + 6 : r.top - 6 - t.height)}px`;
    tooltip.style.left = `${Math.max(4, Math.min(r.left, window.innerWidth - t.width - 8))}px`;
  }

  // ---- intents

  function attribute(index: number) {
    localError = "";
    m.send({ type: "attribute", id: ++requests, index });
  }

  function selectFeature(f: number) {
    localError = "";
    m.set("error", "");
    m.set("feature", f);
    m.save_changes();
  }

  const onClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    const bar = target.closest<HTMLElement>("button.saew-at-bar");
    if (bar && root.contains(bar)) return selectFeature(Number(bar.dataset.feature));
    const tok = target.closest<HTMLElement>(".saew-tok, .saew-at-next");
    if (tok && text.contains(tok)) {
      const i = Number(tok.dataset.i);
      if (i >= 1) attribute(i);
      return;
    }
    const f = m.get("feature");
    if (f === null) return;
    if (target.closest(".saew-at-ablate")) m.send({ type: "test", id: ++requests, feature: f, action: "ablate" });
    if (target.closest(".saew-at-steer")) {
      const s = Number(root.querySelector<HTMLInputElement>(".saew-at-strength")?.value);
      if (!Number.isFinite(s)) {
        localError = "steer strength must be a number (× the feature's maximum activation).";
        return showError();
      }
      m.set("steer_strength", s);
      m.save_changes();
      m.send({ type: "test", id: ++requests, feature: f, action: "steer", strength: s });
    }
  };
  const onOver = (e: MouseEvent) => {
    const span = (e.target as HTMLElement).closest<HTMLElement>(".saew-tok");
    if (span && text.contains(span)) showTooltip(span, Number(span.dataset.i));
  };
  const onOut = (e: MouseEvent) => {
    if ((e.target as HTMLElement).closest(".saew-tok")) tooltip.hidden = true;
  };
  root.addEventListener("click", onClick);
  text.addEventListener("mouseover", onOver);
  text.addEventListener("mouseout", onOut);

  const onTheme = () => {
    dark = isDark(host);
    drawResult();
  };
  const listeners: Listeners = [
    ["change:pieces", drawTokens],
    ["change:flags", drawTokens],
    ["change:selected", drawResult],
    ["change:result", drawResult],
    ["change:feature", drawResult],
    ["change:test_result", drawTest],
    ["change:error", showError],
  ];
  const disconnect = connect(m, listeners, onTheme);
  drawTokens();
  drawResult();
  showError();

  return () => {
    disconnect();
    root.removeEventListener("click", onClick);
    tooltip.remove();
  };
}

export default { render };
