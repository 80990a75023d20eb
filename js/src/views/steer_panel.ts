// Steering panel (Python side: saewidgets/widgets/steer_panel.py). The view edits settings (synced
// traitlets: prompt, steer, method, mode, temperature, seed, max_new_tokens) and sends intents as custom
// messages: {type: "run"} after a slider is released (debounced), {type: "stop"}, {type: "search", query},
// {type: "add", feature}. Python streams whole texts into `result`, tagged with the run's id; it writes only
// for the current run, so what is shown is always one run's text. Generated text is set with textContent.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { connect, el, type Listeners } from "../dom";
import { css } from "../styles";
import { steerCss } from "../steer_styles";

export interface SteerRow {
  feature: number;
  strength: number;
  label?: string;
}

export interface SliderSpec {
  min: number;
  max: number;
  step: number;
  default: number;
  unit: string;
  sweep: number[];
}

export interface ResultColumn {
  label: string;
  text: string;
  done: boolean;
  note?: string; // e.g. why a monitor stopped this column
}

export interface SteerResult {
  id?: number;
  mode?: string;
  status?: "running" | "done" | "stopped" | "error";
  columns?: ResultColumn[];
  tokens?: number;
  seconds?: number;
}

export interface SteerPanelState {
  prompt: string;
  chat: boolean;
  has_chat: boolean;
  steer: SteerRow[];
  method: string;
  methods: string[];
  sliders: Record<string, SliderSpec>;
  mode: "single" | "sweep";
  temperature: number;
  seed: number;
  max_new_tokens: number;
  d_sae: number;
  notice: string;
  searchable: boolean;
  search_results: { query?: string; rows?: { feature: number; score: number; explanation: string }[] };
  result: SteerResult;
  error: string;
}

/** Milliseconds between a slider's release and the run it asks for (more releases in between: one run). */
export const DEBOUNCE_MS = 150;

function numberInput(className: string, value: number, min: number, max: number, step: number): HTMLInputElement {
  const input = el("input", className);
  input.type = "number";
  input.min = String(min);
  input.max = String(max);
  input.step = String(step);
  input.value = String(value);
  return input;
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = el("label", "saew-st-field", text);
  label.append(control);
  return label;
}

/** "4× max act", "α 8", "β 2× max act", "on": the strength with its unit. */
export function formatStrength(strength: number, method: string, unit: string): string {
  if (method === "ablate") return "set to 0";
  const s = String(Math.round(strength * 100) / 100); // slider steps are 0.05 at the finest
  if (method === "amplify") return `α = ${s}`;
  if (unit.startsWith("β")) return `β = ${s}${unit.slice(1).replace(/^\s*×/, "×")}`;
  return unit.startsWith("×") ? `${s}${unit}` : `${s} ${unit}`;
}

/** What the prompt box is for, said above it (a page may hold other text boxes, e.g. the explorer's). */
export const PROMPT_LABEL = "Prompt to generate from: steered beside unsteered";

const revealCss = String.raw`
.saew-st-prompt-label { color: var(--saew-muted); font-size: 0.92em; }
@keyframes saew-st-flash { from { background: var(--saew-subtle); outline-color: var(--saew-accent); } to { background: none; outline-color: transparent; } }
.saew-st-row.saew-st-flash { animation: saew-st-flash 1.6s ease-out; outline: 2px solid transparent; border-radius: 3px; }
`;

function render({ model, el: host }: Pick<RenderProps<SteerPanelState>, "model" | "el">) {
  const m = model as AnyModel<SteerPanelState>;
  const root = el("div", "saew-root saew-steer");
  const style = el("style");
  style.textContent = css + steerCss + revealCss;

  // ---- layout
  const notice = el("div", "saew-notice");
  const prompt = el("textarea", "saew-st-prompt");
  prompt.rows = 2;
  prompt.placeholder = "Prompt (Ctrl+Enter to generate)";
  prompt.setAttribute("aria-label", "prompt");
  const promptLabel = el("label", "saew-st-prompt-label", PROMPT_LABEL);
  promptLabel.addEventListener("click", () => prompt.focus());
  const chat = el("input");
  chat.type = "checkbox";
  const chatLabel = labelled("chat template", chat);
  chatLabel.classList.add("saew-st-chat");
  const promptRow = el("div", "saew-st-prompt-row");
  promptRow.append(prompt, chatLabel);

  const rows = el("div", "saew-st-rows");
  const addInput = el("input", "saew-st-add-input");
  addInput.type = "number";
  addInput.min = "0";
  addInput.placeholder = "feature #";
  const addButton = el("button", "saew-btn saew-st-add", "add");
  const searchInput = el("input", "saew-st-search");
  searchInput.type = "search";
  searchInput.placeholder = "search features (e.g. ocean)";
  const searchResults = el("div", "saew-st-results");
  const addRow = el("div", "saew-st-addrow");
  addRow.append(addInput, addButton, searchInput);

  const method = el("select", "saew-st-method");
  method.setAttribute("aria-label", "method");
  const sweep = el("input", "saew-st-sweep");
  sweep.type = "checkbox";
  const temperature = numberInput("saew-st-temp", 0, 0, 10, 0.1);
  const seed = numberInput("saew-st-seed", 0, 0, 2 ** 31 - 1, 1);
  const maxTokens = numberInput("saew-st-max", 48, 1, 2048, 1);
  const run = el("button", "saew-btn saew-st-run", "Generate");
  const stop = el("button", "saew-btn saew-st-stop", "Stop");
  const controls = el("div", "saew-st-controls");
  controls.append(labelled("method", method), labelled("all strengths", sweep), labelled("temperature", temperature),
    labelled("seed", seed), labelled("max tokens", maxTokens), run, stop);

  const status = el("div", "saew-st-status");
  status.setAttribute("aria-live", "polite");
  const error = el("div", "saew-hm-error");
  error.setAttribute("role", "alert");
  const output = el("div", "saew-st-out");
  root.append(style, notice, promptLabel, promptRow, rows, addRow, searchResults, controls, error, status, output);
  host.replaceChildren(root);

  let localError = "";
  let timer: ReturnType<typeof setTimeout> | null = null;

  // ---- drawing

  function spec(): SliderSpec {
    const s = m.get("sliders")[m.get("method")];
    return s ?? { min: -20, max: 20, step: 0.5, default: 4, unit: "", sweep: [] };
  }

  function drawSettings() {
    if (document.activeElement !== prompt) prompt.value = m.get("prompt");
    chat.checked = m.get("chat");
    chatLabel.hidden = !m.get("has_chat");
    const methods = m.get("methods");
    if (method.options.length !== methods.length) {
      method.replaceChildren(...methods.map((name) => {
        const option = el("option", "", name);
        option.value = name;
        return option;
      }));
    }
    method.value = m.get("method");
    sweep.checked = m.get("mode") === "sweep";
    if (document.activeElement !== temperature) temperature.value = String(m.get("temperature"));
    if (document.activeElement !== seed) seed.value = String(m.get("seed"));
    if (document.activeElement !== maxTokens) maxTokens.value = String(m.get("max_new_tokens"));
    seed.disabled = m.get("temperature") <= 0;
    notice.textContent = m.get("notice");
    notice.hidden = !m.get("notice");
    searchInput.hidden = !m.get("searchable");
  }

  function drawRows() {
    const s = spec();
    const current = m.get("steer");
    const existing = Array.from(rows.querySelectorAll<HTMLElement>(".saew-st-row"));
    if (existing.length === current.length && current.length
        && existing.every((row, i) => row.dataset.feature === String(current[i].feature))) {
      // same features: update in place, so a slider keeps focus (keyboard users) and nothing jumps
      existing.forEach((row, i) => {
        const slider = row.querySelector<HTMLInputElement>(".saew-st-slider")!;
        Object.assign(slider, { min: String(s.min), max: String(s.max), step: String(s.step) });
        slider.value = String(current[i].strength);
        slider.disabled = m.get("method") === "ablate";
        row.querySelector(".saew-st-value")!.textContent = formatStrength(current[i].strength, m.get("method"), s.unit);
      });
      return;
    }
    const nodes = current.map((r) => {
      const row = el("div", "saew-st-row");
      row.dataset.feature = String(r.feature);
      const name = el("span", "saew-st-name");
      name.append(el("span", "saew-feat-id", `#${r.feature}`));
      if (r.label) name.append(el("span", "saew-st-label", r.label));
      const slider = el("input", "saew-st-slider");
      slider.type = "range";
      slider.min = String(s.min);
      slider.max = String(s.max);
      slider.step = String(s.step);
      slider.value = String(r.strength);
      slider.setAttribute("aria-label", `strength of feature ${r.feature}`);
      slider.disabled = m.get("method") === "ablate";
      const value = el("span", "saew-st-value", formatStrength(r.strength, m.get("method"), s.unit));
      const remove = el("button", "saew-btn saew-st-remove", "×");
      remove.title = `remove feature ${r.feature}`;
      row.append(name, slider, value, remove);
      return row;
    });
    if (!nodes.length) nodes.push(el("div", "saew-empty", "No features yet: add one by index or search."));
    rows.replaceChildren(...nodes);
  }

  function drawSearch() {
    const r = m.get("search_results");
    const found = r?.rows ?? [];
    searchResults.replaceChildren(...found.map((row) => {
      const b = el("button", "saew-btn saew-st-found");
      b.dataset.feature = String(row.feature);
      b.append(el("span", "saew-feat-id", `+ #${row.feature}`), el("span", "saew-st-label", row.explanation));
      return b;
    }));
    searchResults.hidden = !found.length;
  }

  function showError() {
    const text = localError || m.get("error");
    error.textContent = text;
    error.hidden = !text;
  }

  function drawResult() {
    const r = m.get("result") ?? {};
    const columns = r.columns ?? [];
    const running = r.status === "running";
    stop.disabled = !running;
    root.classList.toggle("saew-st-running", running);
    const words: Record<string, string> = { running: "generating…", done: "done", stopped: "stopped", error: "error" };
    status.textContent = r.status ? `${words[r.status] ?? r.status}${r.tokens ? ` · ${r.tokens} tokens` : ""}${
      r.seconds ? ` · ${r.seconds.toFixed(1)} s` : ""}` : "Move a slider (or press Generate) to run.";
    output.classList.toggle("saew-st-sweep-out", r.mode === "sweep");
    // reuse the column nodes while the same run streams, so the page does not flicker
    const same = output.dataset.run === String(r.id) && output.children.length === columns.length;
    if (!same) {
      output.replaceChildren(...columns.map(() => {
        const col = el("div", "saew-st-col");
        const note = el("div", "saew-st-note");
        note.hidden = true;
        col.append(el("div", "saew-st-head"), el("div", "saew-st-text"), note);
        return col;
      }));
      output.dataset.run = String(r.id);
    }
    columns.forEach((c, i) => {
      const col = output.children[i] as HTMLElement;
      col.dataset.label = c.label;
      col.classList.toggle("saew-st-steered", c.label !== "unsteered");
      col.classList.toggle("saew-st-done", c.done);
      (col.children[0] as HTMLElement).textContent = c.label;
      (col.children[1] as HTMLElement).textContent = c.text; // text, never HTML
      const note = col.children[2] as HTMLElement;
      note.textContent = c.note ?? "";
      note.hidden = !c.note;
    });
  }

  // ---- intents

  function sendRun() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    localError = ""; // a new request: Python reports what goes wrong with it
    showError();
    m.set("prompt", prompt.value);
    m.save_changes();
    m.send({ type: "run" });
  }

  function scheduleRun() {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(sendRun, DEBOUNCE_MS);
  }

  function setStrength(feature: number, strength: number) {
    m.set("steer", m.get("steer").map((r) => (r.feature === feature ? { ...r, strength } : r)));
    m.save_changes();
  }

  function addFeature(text: string) {
    const d = m.get("d_sae");
    if (!/^\d+$/.test(text.trim()) || Number(text) >= d) {
      localError = `feature must be a whole number from 0 to ${d - 1} (got "${text}").`;
      return showError();
    }
    localError = "";
    showError();
    m.send({ type: "add", feature: Number(text) });
    addInput.value = "";
  }

  function setNumber(name: "temperature" | "seed" | "max_new_tokens", input: HTMLInputElement, lo: number, hi: number) {
    const v = Number(input.value);
    const whole = name !== "temperature";
    if (input.value.trim() === "" || !Number.isFinite(v) || v < lo || v > hi || (whole && !Number.isInteger(v))) {
      localError = `${name.replace(/_/g, " ")} must be ${whole ? "a whole number" : "a number"} from ${lo} to ${hi} (got "${input.value}").`;
      showError();
      input.value = String(m.get(name));
      return;
    }
    localError = "";
    showError();
    m.set(name, v);
    m.save_changes();
  }

  const onInput = (e: Event) => {
    const target = e.target as HTMLInputElement;
    if (target.classList.contains("saew-st-slider")) {
      const row = target.closest<HTMLElement>(".saew-st-row")!;
      const value = row.querySelector(".saew-st-value")!;
      value.textContent = formatStrength(Number(target.value), m.get("method"), spec().unit);
    }
  };
  const onChange = (e: Event) => {
    const target = e.target as HTMLInputElement;
    if (target.classList.contains("saew-st-slider")) {
      const feature = Number(target.closest<HTMLElement>(".saew-st-row")!.dataset.feature);
      setStrength(feature, Number(target.value));
      scheduleRun(); // on release, debounced
    } else if (e.target === method) {
      m.set("method", method.value);
      m.save_changes();
      scheduleRun();
    } else if (target === sweep) {
      m.set("mode", sweep.checked ? "sweep" : "single");
      m.save_changes();
      scheduleRun();
    } else if (target === chat) {
      m.set("chat", chat.checked);
      m.save_changes();
    } else if (target === temperature) setNumber("temperature", temperature, 0, 10);
    else if (target === seed) setNumber("seed", seed, 0, 2 ** 31 - 1);
    else if (target === maxTokens) setNumber("max_new_tokens", maxTokens, 1, 2048);
  };
  const onClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    if (target === run) return sendRun();
    if (target === stop) {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      return m.send({ type: "stop" });
    }
    if (target === addButton) return addFeature(addInput.value);
    const remove = target.closest<HTMLElement>(".saew-st-remove");
    if (remove) {
      const feature = Number(remove.closest<HTMLElement>(".saew-st-row")!.dataset.feature);
      m.set("steer", m.get("steer").filter((r) => r.feature !== feature));
      m.save_changes();
      return drawRows();
    }
    const found = target.closest<HTMLElement>(".saew-st-found");
    if (found) addFeature(found.dataset.feature ?? "");
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.target === prompt && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      sendRun();
    } else if (e.target === addInput && e.key === "Enter") addFeature(addInput.value);
    else if (e.target === searchInput && e.key === "Enter" && searchInput.value.trim()) {
      m.send({ type: "search", query: searchInput.value.trim() });
    }
  };
  const onPromptBlur = () => {
    if (prompt.value !== m.get("prompt")) {
      m.set("prompt", prompt.value);
      m.save_changes();
    }
  };
  root.addEventListener("input", onInput);
  root.addEventListener("change", onChange);
  root.addEventListener("click", onClick);
  root.addEventListener("keydown", onKey);
  prompt.addEventListener("blur", onPromptBlur);

  // ---- model changes
  const onError = () => {
    localError = ""; // the newest message wins
    showError();
  };
  const onMethod = () => {
    drawSettings();
    drawRows();
  };
  const listeners: Listeners = [
    ["change:result", drawResult],
    ["change:steer", drawRows],
    ["change:method", onMethod],
    ["change:sliders", drawRows],
    ["change:error", onError],
    ["change:search_results", drawSearch],
    ...(["prompt", "chat", "has_chat", "mode", "temperature", "seed", "max_new_tokens", "notice", "searchable"]
      .map((name) => [`change:${name}`, drawSettings] as [string, () => void])),
  ];
  const disconnect = connect(m, listeners);
  // Python asks to be seen ({type: "reveal", feature}: the explorer's "Steer #N"): scroll the panel into
  // view and flash the feature's row. root.dataset.revealed counts the reveals (tests read the order of events).
  let reveals = 0;
  const onCustom = (msg: { type?: string; feature?: number | null }) => {
    if (!msg || msg.type !== "reveal") return;
    reveals += 1;
    root.dataset.revealed = String(reveals);
    root.scrollIntoView?.({ block: "start", behavior: "smooth" });
    const row = msg.feature == null ? null : rows.querySelector<HTMLElement>(`.saew-st-row[data-feature="${Number(msg.feature)}"]`);
    if (row) {
      row.classList.remove("saew-st-flash");
      void row.offsetWidth; // restart the animation
      row.classList.add("saew-st-flash");
    }
  };
  m.on("msg:custom", onCustom);
  drawSettings();
  drawRows();
  drawSearch();
  showError();
  drawResult();

  return () => {
    if (timer !== null) clearTimeout(timer);
    m.off("msg:custom", onCustom);
    disconnect();
  };
}

export default { render };
