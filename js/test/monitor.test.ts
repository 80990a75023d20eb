import { afterEach, describe, expect, it } from "vitest";
// Views export only anywidget's documented `export default { render }`; the tests take render from it.
import view, { excitement, type MonitorState } from "../src/views/monitor";
const { render } = view;
import { FakeModel, payload } from "./helpers";

function state(overrides: Partial<MonitorState> = {}): MonitorState {
  return {
    features: [{ feature: 7, label: "spam", threshold: 2 }, { feature: 9, label: "", threshold: 1 }],
    note: "thresholds are a guess", guess: true, action: "steer (calibrate #7 0)", consecutive: 1,
    tokens: [], values: {}, flags: {}, events: [], status: "idle", reason: "", generation: -1, ...overrides,
  };
}

/** A timeline of four tokens: two prompt tokens, two reply tokens; #7 fires on the third, steered from there on. */
function streamed(): Partial<MonitorState> {
  return {
    tokens: ["Hi", " <b>there</b>", " FREE", " money"],
    values: payload("float32", [4, 2], [0, 0, 0.5, 0.2, 3, 0.1, 1, 0]),
    flags: payload("uint8", [4], [0, 0, 1 | 2, 1 | 2]),
    events: [{ position: 2, feature: 7, activation: 3, threshold: 2, action: "steer", phase: "reply", token: " FREE" }],
    status: "running", generation: 0,
  };
}

function mount(s = state()) {
  const model = new FakeModel<MonitorState>(s);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el });
  return { model, el, cleanup };
}

afterEach(() => document.body.replaceChildren());

describe("monitor view", () => {
  it("says when its thresholds are a guess and waits for a generation", () => {
    const { el } = mount();
    expect(el.querySelector(".saew-mon-note")!.classList.contains("saew-notice")).toBe(true);
    expect(el.querySelector(".saew-mon-status")!.textContent).toContain("waiting");
    expect(el.querySelectorAll(".saew-mon-spark").length).toBe(2);
  });

  it("streams tokens as text, coloured by the watched features, with the alert and the action taken", () => {
    const { el, model } = mount();
    model.update(streamed());
    const toks = [...el.querySelectorAll<HTMLElement>(".saew-mon-tok")];
    expect(toks.map((t) => t.textContent)).toEqual(["Hi", " <b>there</b>", " FREE", " money"]);
    expect(el.querySelector(".saew-mon-text b")).toBeNull(); // never parsed as HTML
    expect(toks[0].classList.contains("saew-mon-prompt")).toBe(true);
    expect(toks[2].classList.contains("saew-mon-above")).toBe(true);
    expect(toks[2].classList.contains("saew-mon-on")).toBe(true);
    expect(toks[1].classList.contains("saew-mon-above")).toBe(false);
    expect(toks[2].style.background).not.toBe("");
    expect(toks[2].title).toContain("#7 3.00 (threshold 2.00)");
    const alert = el.querySelector(".saew-mon-alert")!;
    expect(alert.textContent).toContain("steer");
    expect(alert.textContent).toContain(" FREE");
    const spark = el.querySelector('.saew-mon-spark[data-feature="7"]')!;
    expect(spark.querySelector(".saew-mon-threshold")).not.toBeNull();
    expect(spark.querySelectorAll(".saew-mon-event").length).toBe(1);
    expect(spark.querySelector(".saew-mon-steered")).not.toBeNull();
    expect(el.querySelector('.saew-mon-spark[data-feature="9"] .saew-mon-event')).toBeNull();
  });

  it("shows why a stop action ended the generation", () => {
    const { el, model } = mount();
    model.update({ ...streamed(), status: "stopped", reason: "stopped: feature #7 stayed above 2" });
    const reason = el.querySelector<HTMLElement>(".saew-mon-reason")!;
    expect(reason.hidden).toBe(false);
    expect(reason.textContent).toContain("#7");
    expect(el.querySelector<HTMLElement>(".saew-monitor")!.dataset.status).toBe("stopped");
  });

  it("unsubscribes on cleanup", () => {
    const { model, cleanup } = mount();
    expect(model.listenerCount()).toBeGreaterThan(0);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });

  it("measures excitement relative to each threshold", () => {
    const values = new Float32Array([1, 3, 4, 0]);
    expect(excitement(values, 2, 0, [2, 1])).toBe(3);
    expect(excitement(values, 2, 1, [2, 1])).toBe(2);
  });
});
