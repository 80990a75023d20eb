// The monitor's live timeline (Python side: saewidgets/widgets/monitor.py). Python streams the shown row's whole
// timeline while the model generates: token strings, activations [T, n] (float32 bytes), flags [T] (bit 0: reply
// token, bit 1: the conditional intervention was on) and the events. This view only draws: the tokens coloured by
// the watched features (relative to each threshold), one sparkline per feature with its threshold line and the
// events on it, and the alerts with the action taken. Token text is always set with textContent.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { decodeBytes, decodeFloat, type Payload } from "../codecs";
import { ColourScale } from "../colour";
import { connect, el, type Listeners } from "../dom";
import { monitorCss } from "../monitor_styles";
import { css } from "../styles";
import { isDark } from "../theme";

export interface WatchedFeature {
  feature: number;
  label: string;
  threshold: number;
}

export interface MonitorEvent {
  position: number;
  feature: number;
  activation: number;
  threshold: number;
  action: string;
  phase: string;
  token: string;
}

export interface MonitorState {
  features: WatchedFeature[];
  note: string;
  guess: boolean;
  action: string;
  consecutive: number;
  tokens: string[];
  values: Payload | Record<string, never>;
  flags: Payload | Record<string, never>;
  events: MonitorEvent[];
  status: string;
  reason: string;
  generation: number;
}

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 300; // sparkline viewBox; it stretches to the panel's width
const HEIGHT = 40;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** How far above its threshold a token pushes the most excited watched feature: value / threshold, 0 when none. */
export function excitement(values: Float32Array, n: number, t: number, thresholds: number[]): number {
  let best = 0;
  for (let i = 0; i < n; i++) {
    const v = values[t * n + i];
    const ratio = thresholds[i] > 0 ? v / thresholds[i] : v > 0 ? 2 : 0;
    if (ratio > best) best = ratio;
  }
  return best;
}

/** The sparkline's points for one feature: x by position, y by activation over `top`. */
export function sparkPoints(values: Float32Array, n: number, i: number, T: number, top: number): string {
  const pts: string[] = [];
  for (let t = 0; t < T; t++) {
    const x = T > 1 ? (t / (T - 1)) * WIDTH : WIDTH / 2;
    const y = HEIGHT - 2 - (Math.max(0, values[t * n + i]) / top) * (HEIGHT - 4);
    pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  }
  return pts.join(" ");
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

const STATUS: Record<string, string> = {
  idle: "waiting for a generation", running: "watching…", done: "done", stopped: "stopped by the monitor",
  cancelled: "cancelled",
};

function render({ model, el: host }: Pick<RenderProps<MonitorState>, "model" | "el">) {
  const m = model as AnyModel<MonitorState>;
  const root = el("div", "saew-root saew-monitor");
  const style = el("style");
  style.textContent = css + monitorCss;
  const head = el("div", "saew-mon-head");
  const title = el("span", "saew-mon-title", "Feature monitor");
  const status = el("span", "saew-mon-status");
  const action = el("span", "saew-mon-action");
  head.append(title, status, action);
  const note = el("div", "saew-mon-note");
  const reason = el("div", "saew-mon-reason");
  reason.setAttribute("role", "alert");
  const sparks = el("div", "saew-mon-sparks");
  const text = el("div", "saew-mon-text");
  text.setAttribute("aria-label", "tokens coloured by the watched features");
  const alertsHead = el("div", "saew-mon-alerts-head", "Alerts");
  const alerts = el("ol", "saew-mon-alerts");
  alerts.setAttribute("aria-live", "polite");
  root.append(style, head, note, reason, sparks, text, alertsHead, alerts);
  host.replaceChildren(root);
  let scale = new ColourScale(isDark(host));

  function data() {
    const feats = m.get("features") ?? [];
    const n = feats.length;
    const raw = m.get("values") as Payload;
    const values = raw && "dtype" in raw ? decodeFloat(raw).data : new Float32Array(0);
    const rawFlags = m.get("flags") as Payload;
    const flags = rawFlags && "dtype" in rawFlags ? decodeBytes(rawFlags).data : new Uint8Array(0);
    const tokens = m.get("tokens") ?? [];
    const T = Math.min(tokens.length, n ? values.length / n : 0, flags.length);
    return { feats, n, values, flags, tokens, T };
  }

  function drawHead() {
    const s = m.get("status") ?? "idle";
    root.dataset.status = s;
    status.textContent = STATUS[s] ?? s;
    action.textContent = `action: ${m.get("action")} · ${m.get("consecutive")} token(s) in a row`;
    note.textContent = m.get("note") ?? "";
    note.classList.toggle("saew-notice", !!m.get("guess"));
    const why = m.get("reason") ?? "";
    reason.textContent = why;
    reason.hidden = !why;
  }

  function drawSparks() {
    const { feats, n, values, flags, T } = data();
    const events = m.get("events") ?? [];
    sparks.replaceChildren(...feats.map((f, i) => {
      const row = el("div", "saew-mon-spark");
      row.dataset.feature = String(f.feature);
      const name = el("span", "saew-mon-name", `#${f.feature}`);
      if (f.label) name.append(el("span", "saew-mon-label", ` ${f.label}`));
      let top = f.threshold * 1.5;
      for (let t = 0; t < T; t++) top = Math.max(top, values[t * n + i]);
      top = top > 0 ? top : 1;
      const last = T ? values[(T - 1) * n + i] : 0;
      row.title = `feature #${f.feature}${f.label ? ` (${f.label})` : ""}: threshold ${fmt(f.threshold)}, ` +
        `highest ${fmt(top)}, now ${fmt(last)}`;
      const plot = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", class: "saew-mon-plot" });
      plot.setAttribute("role", "img");
      plot.setAttribute("aria-label", row.title);
      // the steered stretch (the conditional intervention on), then the prompt/reply boundary
      let start = -1;
      for (let t = 0; t < T; t++) if (flags[t] & 2) { start = t; break; }
      const x = (t: number) => (T > 1 ? (t / (T - 1)) * WIDTH : WIDTH / 2);
      if (start >= 0) plot.append(svg("rect", { x: x(start), y: 0, width: Math.max(1, WIDTH - x(start)), height: HEIGHT, class: "saew-mon-steered" }));
      let reply = -1;
      for (let t = 0; t < T; t++) if (flags[t] & 1) { reply = t; break; }
      if (reply > 0) plot.append(svg("line", { x1: x(reply), x2: x(reply), y1: 0, y2: HEIGHT, class: "saew-mon-boundary" }));
      const ty = HEIGHT - 2 - (f.threshold / top) * (HEIGHT - 4);
      plot.append(svg("line", { x1: 0, x2: WIDTH, y1: ty, y2: ty, class: "saew-mon-threshold" }));
      if (T) plot.append(svg("polyline", { points: sparkPoints(values, n, i, T, top), class: "saew-mon-line" }));
      for (const e of events) {
        if (e.feature !== f.feature || e.position >= T) continue;
        const cy = Math.min(HEIGHT - 4, Math.max(4, HEIGHT - 2 - (e.activation / top) * (HEIGHT - 4))); // not clipped
        const dot = svg("circle", { cx: x(e.position), cy, r: 3.5, class: "saew-mon-event" });
        const tip = svg("title", {});
        tip.textContent = `${e.action} at “${e.token}” (${e.phase} position ${e.position}): ${fmt(e.activation)} > ${fmt(e.threshold)}`;
        dot.append(tip);
        plot.append(dot);
      }
      row.append(name, plot);
      return row;
    }));
  }

  function drawText() {
    const { feats, n, values, flags, tokens, T } = data();
    const thresholds = feats.map((f) => f.threshold);
    const spans: HTMLElement[] = [];
    for (let t = 0; t < T; t++) {
      const span = el("span", "saew-mon-tok");
      span.textContent = tokens[t]; // text, never HTML
      const ratio = excitement(values, n, t, thresholds);
      const sw = scale.swatch(Math.min(1, ratio / 2)); // the threshold sits at the middle of the scale
      if (sw) {
        span.style.background = sw.background;
        span.style.color = sw.text;
      }
      span.classList.toggle("saew-mon-prompt", !(flags[t] & 1));
      span.classList.toggle("saew-mon-above", ratio > 1);
      span.classList.toggle("saew-mon-on", !!(flags[t] & 2));
      const parts = feats.map((f, i) => `#${f.feature} ${fmt(values[t * n + i])} (threshold ${fmt(f.threshold)})`);
      span.title = `${flags[t] & 1 ? "reply" : "prompt"} token ${t} “${tokens[t]}”\n${parts.join("\n")}` +
        (flags[t] & 2 ? "\nconditional steering on" : "");
      spans.push(span);
    }
    text.replaceChildren(...spans);
    if (!T) text.append(el("span", "saew-empty", "Generate with this monitor to see the timeline."));
    text.scrollTop = text.scrollHeight;
  }

  function drawAlerts() {
    const events = m.get("events") ?? [];
    alerts.replaceChildren(...events.map((e) => {
      const item = el("li", `saew-mon-alert saew-mon-${e.action}`);
      item.append(el("span", "saew-mon-alert-action", e.action));
      item.append(el("span", "", ` #${e.feature} at `), el("span", "saew-chip", e.token));
      item.append(el("span", "saew-mon-alert-detail",
        ` ${e.phase} position ${e.position}: ${fmt(e.activation)} > ${fmt(e.threshold)}`));
      item.title = `${e.action}: feature #${e.feature} stayed above ${fmt(e.threshold)} for ${m.get("consecutive")} token(s)`;
      return item;
    }));
    if (!events.length) alerts.append(el("li", "saew-empty", "No alert yet."));
  }

  function drawAll() {
    drawHead();
    drawSparks();
    drawText();
    drawAlerts();
  }

  const listeners: Listeners = [
    ["change:status", drawHead], ["change:reason", drawHead], ["change:note", drawHead], ["change:action", drawHead],
    ["change:features", drawAll], ["change:values", drawAll], ["change:events", drawAll],
  ];
  drawAll();
  return connect(m, listeners, () => {
    scale = new ColourScale(isDark(host));
    drawText();
  });
}

export default { render };
