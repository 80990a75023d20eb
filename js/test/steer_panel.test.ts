import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
// Views export only anywidget's documented `export default { render }`; the tests take render from it.
import view, { DEBOUNCE_MS, formatStrength, PROMPT_LABEL, type SteerPanelState } from "../src/views/steer_panel";
const { render } = view;
import { FakeModel } from "./helpers";

const spec = { min: -20, max: 20, step: 0.5, default: 4, unit: "× max act", sweep: [1, 2, 4, 8] };

function state(overrides: Partial<SteerPanelState> = {}): SteerPanelState {
  return {
    prompt: "Tell me about your weekend.", chat: true, has_chat: true,
    steer: [{ feature: 7, strength: 4, label: "ocean, sea" }, { feature: 9, strength: -2 }],
    method: "clamp", methods: ["clamp", "add", "ablate", "amplify", "calibrate"],
    sliders: { clamp: spec, add: spec, amplify: { ...spec, unit: "α" }, calibrate: { ...spec, unit: "β × max act" },
      ablate: { ...spec, unit: "" } },
    mode: "single", temperature: 0, seed: 0, max_new_tokens: 48, d_sae: 128, notice: "", searchable: true,
    search_results: {}, result: {}, error: "", ...overrides,
  };
}

function mount(s = state()) {
  const model = new FakeModel<SteerPanelState>(s);
  const sent: any[] = [];
  (model as any).send = (msg: unknown) => sent.push(msg);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el });
  return { model, el, cleanup, sent };
}

function slider(el: HTMLElement, feature: number): HTMLInputElement {
  return el.querySelector<HTMLInputElement>(`.saew-st-row[data-feature="${feature}"] .saew-st-slider`)!;
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe("steering panel view", () => {
  it("labels its prompt box; a reveal from Python scrolls the panel into view and flashes the feature's row", () => {
    const { el, model } = mount();
    expect(el.querySelector(".saew-st-prompt-label")!.textContent).toBe(PROMPT_LABEL);
    const scrolled: Element[] = [];
    const spy = vi.fn(function (this: Element) { scrolled.push(this); });
    Element.prototype.scrollIntoView = spy as never;
    (model as any).custom({ type: "reveal", feature: 9 });
    const root = el.querySelector<HTMLElement>(".saew-steer")!;
    expect(scrolled).toEqual([root]);
    expect(root.dataset.revealed).toBe("1");
    expect(el.querySelector('.saew-st-row[data-feature="9"]')!.classList.contains("saew-st-flash")).toBe(true);
    (model as any).custom({ type: "other" });
    expect(root.dataset.revealed).toBe("1");
  });

  it("shows one slider per feature with its strength and unit", () => {
    const { el } = mount();
    const rows = el.querySelectorAll(".saew-st-row");
    expect(rows.length).toBe(2);
    expect(slider(el, 7).value).toBe("4");
    expect(slider(el, 7).min).toBe("-20");
    expect(rows[0].querySelector(".saew-st-value")!.textContent).toBe("4× max act");
    expect(rows[0].querySelector(".saew-st-label")!.textContent).toBe("ocean, sea");
    expect(formatStrength(8, "amplify", "α")).toBe("α = 8");
    expect(formatStrength(2.5, "calibrate", "β × max act")).toBe("β = 2.5× max act");
    expect(formatStrength(1, "ablate", "")).toBe("set to 0");
    expect(formatStrength(1.25, "clamp", "× max act")).toBe("1.25× max act");
  });

  it("runs once, after the debounce, for many rapid releases, with the last strength", () => {
    const { el, model, sent } = mount();
    const s = slider(el, 7);
    for (let i = 0; i < 20; i++) {
      s.value = String(i / 2);
      s.dispatchEvent(new Event("input", { bubbles: true }));
      s.dispatchEvent(new Event("change", { bubbles: true }));
      vi.advanceTimersByTime(DEBOUNCE_MS / 3);
    }
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(DEBOUNCE_MS);
    expect(sent).toEqual([{ type: "run" }]);
    expect(model.get("steer")[0].strength).toBe(9.5);
    expect(model.get("steer")[1].strength).toBe(-2);
  });

  it("shows streamed text as text, reusing the columns of the same run", () => {
    const { el, model } = mount();
    model.update({ result: { id: 3, mode: "single", status: "running", tokens: 2, columns: [
      { label: "unsteered", text: "I went", done: false }, { label: "clamp #7 4×", text: "<b>The sea", done: false }] } });
    const texts = () => Array.from(el.querySelectorAll(".saew-st-text")).map((n) => n.textContent);
    const first = el.querySelector(".saew-st-text");
    expect(texts()).toEqual(["I went", "<b>The sea"]);
    expect(el.querySelector(".saew-st-text b")).toBeNull();
    expect(el.querySelector(".saew-st-status")!.textContent).toContain("generating");
    expect(el.querySelector<HTMLButtonElement>(".saew-st-stop")!.disabled).toBe(false);
    model.update({ result: { id: 3, mode: "single", status: "done", tokens: 4, seconds: 1.5, columns: [
      { label: "unsteered", text: "I went out", done: true }, { label: "clamp #7 4×", text: "<b>The sea is", done: true }] } });
    expect(el.querySelector(".saew-st-text")).toBe(first);
    expect(texts()).toEqual(["I went out", "<b>The sea is"]);
    expect(el.querySelector(".saew-st-status")!.textContent).toBe("done · 4 tokens · 1.5 s");
    expect(el.querySelector<HTMLButtonElement>(".saew-st-stop")!.disabled).toBe(true);
  });

  it("sends stop, search and add; rejects a bad index locally", () => {
    const { el, sent, model } = mount();
    model.update({ result: { id: 1, status: "running", columns: [] } });
    el.querySelector<HTMLButtonElement>(".saew-st-stop")!.click();
    const input = el.querySelector<HTMLInputElement>(".saew-st-add-input")!;
    input.value = "500";
    el.querySelector<HTMLButtonElement>(".saew-st-add")!.click();
    expect(el.querySelector(".saew-hm-error")!.textContent).toContain("from 0 to 127");
    input.value = "12";
    el.querySelector<HTMLButtonElement>(".saew-st-add")!.click();
    const search = el.querySelector<HTMLInputElement>(".saew-st-search")!;
    search.value = "ocean";
    search.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(sent).toEqual([{ type: "stop" }, { type: "add", feature: 12 }, { type: "search", query: "ocean" }]);
    model.update({ search_results: { query: "ocean", rows: [{ feature: 5, score: 1, explanation: "sea" }] } });
    el.querySelector<HTMLButtonElement>(".saew-st-found")!.click();
    expect(sent.at(-1)).toEqual({ type: "add", feature: 5 });
  });

  it("switches method and sweep mode, and shows Python's errors", () => {
    const { el, model, sent } = mount();
    const method = el.querySelector<HTMLSelectElement>(".saew-st-method")!;
    method.value = "amplify";
    method.dispatchEvent(new Event("change", { bubbles: true }));
    expect(model.get("method")).toBe("amplify");
    expect(el.querySelector(".saew-st-value")!.textContent).toBe("α = 4");
    const sweep = el.querySelector<HTMLInputElement>(".saew-st-sweep")!;
    sweep.checked = true;
    sweep.dispatchEvent(new Event("change", { bubbles: true }));
    expect(model.get("mode")).toBe("sweep");
    vi.advanceTimersByTime(DEBOUNCE_MS);
    expect(sent).toEqual([{ type: "run" }]);
    model.update({ error: "strength nan for feature 7 is out of range" });
    expect(el.querySelector(".saew-hm-error")!.textContent).toContain("out of range");
  });

  it("cleans up its listeners", () => {
    const { model, cleanup } = mount();
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});
