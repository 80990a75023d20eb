import { afterEach, describe, expect, it } from "vitest";
// Views export only anywidget's documented `export default { render }`; the tests take render from it.
import view, { diverging, fmtAttr, type AttributionState } from "../src/views/attribution";
const { render } = view;
import { FakeModel, payload } from "./helpers";

const PIECES = ["<s>", "Hi", " <b>x</b>", " Paris", "."];

function state(overrides: Partial<AttributionState> = {}): AttributionState {
  return {
    prompt: "Hi <b>x</b>", pieces: PIECES, flags: payload("uint8", [5], [1, 0, 0, 0, 0]), n_prompt: 3,
    method: "logprob", selected: 3, result: {}, test_result: {}, steer_strength: 1, feature: null, d_sae: 100,
    error: "", ...overrides,
  };
}

const DONE = {
  id: 1, index: 3, status: "done" as const, seconds: 0.5,
  target: { token: " Paris", probability: 0.5, value: -0.69, method: "logprob", position: 2 },
  bars: [{ feature: 7, attribution: 0.4, activation: 3, label: "French" },
    { feature: 9, attribution: -0.1, activation: 1, label: "<i>no</i>" }],
  error: 0.05, total: 0.35, linearised: 0.35,
  // rows: bar 7, bar 9, total, error; positions 0..4
  positions: payload("float32", [4, 5], [0, 0, 0.4, 0, 0, 0, -0.1, 0, 0, 0, 0, 0.2, 0.15, 0, 0, 0, 0, 0.05, 0, 0]),
};

function mount(s = state()) {
  const model = new FakeModel<AttributionState>(s);
  const sent: any[] = [];
  (model as any).send = (msg: unknown) => sent.push(msg);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el });
  return { model, el, cleanup, sent };
}

afterEach(() => document.body.replaceChildren());

describe("attribution view", () => {
  it("renders tokens as text and a click on a token asks Python to attribute it", () => {
    const { el, sent } = mount();
    const text = el.querySelector(".saew-at-text")!;
    expect(text.textContent).toContain(" <b>x</b>");
    expect(text.querySelector("b")).toBeNull();
    el.querySelector<HTMLElement>('.saew-tok[data-i="4"]')!.click();
    el.querySelector<HTMLElement>(".saew-at-next")!.click();
    el.querySelector<HTMLElement>('.saew-tok[data-i="0"]')!.click(); // the sink: nothing to attribute
    expect(sent.map((m) => [m.type, m.index])).toEqual([["attribute", 4], ["attribute", 5]]);
  });

  it("shows bars up and down, colours the context, and a bar click selects its feature", () => {
    const { el, model } = mount();
    model.update({ result: DONE });
    const up = [...el.querySelectorAll<HTMLElement>(".saew-at-up-col button.saew-at-bar")].map((b) => b.dataset.feature);
    const down = [...el.querySelectorAll<HTMLElement>(".saew-at-down-col button.saew-at-bar")].map((b) => b.dataset.feature);
    expect(up).toEqual(["7"]);
    expect(down).toEqual(["9"]);
    expect(el.querySelector(".saew-at-down-col .saew-at-label")!.textContent).toBe("<i>no</i>");
    const bg = (i: number) => el.querySelector<HTMLElement>(`.saew-tok[data-i="${i}"]`)!.style.background;
    expect(bg(1)).not.toBe("");      // the total row: positions 1 and 2 pushed
    expect(bg(3)).toBe("");          // the target itself and later tokens: not in its context
    el.querySelector<HTMLElement>('button.saew-at-bar[data-feature="9"]')!.click();
    expect(model.saved.at(-1)).toMatchObject({ feature: 9 });
    expect(bg(1)).not.toBe("");      // now coloured by feature 9 alone: only position 1
    expect(bg(2)).toBe("");
    expect(el.querySelector(".saew-at-legend")!.textContent).toContain("feature #9");
  });

  it("ablate sends a test and shows the probability before and after", () => {
    const { el, model, sent } = mount(state({ feature: 7 }));
    model.update({ result: DONE });
    el.querySelector<HTMLElement>(".saew-at-ablate")!.click();
    expect(sent.at(-1)).toMatchObject({ type: "test", feature: 7, action: "ablate" });
    model.update({ test_result: { index: 3, feature: 7, action: "ablate", status: "done", token: " Paris",
      before: 0.5, after: 0.125, top_after: " Rome", top_after_probability: 0.3 } });
    expect(el.querySelector(".saew-at-before")!.textContent).toBe("0.500");
    expect(el.querySelector(".saew-at-after")!.textContent).toBe("0.125");
    expect(el.querySelector(".saew-at-outcome")!.textContent).toContain("·Rome");
  });

  it("formats small attributions and signed colours", () => {
    expect(fmtAttr(0.00042)).toBe("+4.2e-4");
    expect(fmtAttr(-0.5)).toBe("−0.50");
    expect(diverging(0, false)).toBeNull();
    expect(diverging(1, false)!.background).not.toBe(diverging(-1, false)!.background);
  });

  it("removes its tooltip and listeners on cleanup", () => {
    const { model, cleanup } = mount();
    expect(document.querySelectorAll(".saew-tooltip").length).toBe(1);
    cleanup();
    expect(document.querySelectorAll(".saew-tooltip").length).toBe(0);
    expect(model.listenerCount()).toBe(0);
  });
});
