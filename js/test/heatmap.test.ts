import { afterEach, describe, expect, it } from "vitest";
// Views export only anywidget's documented `export default { render }`; the tests take render from it.
import view, { BAR_CAPTION, type HeatmapState } from "../src/views/heatmap";
const { render } = view;
import { FakeModel, payload } from "./helpers";

const K = 2;

/** What heatmap.py sends for one prompt: tokens, flags and each token's top-K features. */
function prompt(tokens: string[], top: [number, number][][], notice = ""): HeatmapState["prompts"][number] {
  const flags = tokens.map((_, i) => (i === 0 ? 1 : 0));
  return {
    tokens,
    flags: payload("uint8", [tokens.length], flags),
    top_ids: payload("int32", [tokens.length, K], top.flatMap((row) => row.map(([f]) => f))),
    top_values: payload("float16", [tokens.length, K], top.flatMap((row) => row.map(([, v]) => v))),
    notice,
  };
}

function state(overrides: Partial<HeatmapState> = {}): HeatmapState {
  return {
    prompts: [
      prompt(["<s>", "Hello", " <b>world</b>", "\n"], [
        [[-1, 0], [-1, 0]],
        [[5, 2], [9, 1]],
        [[9, 4], [-1, 0]],
        [[5, 0.5], [-1, 0]],
      ]),
    ],
    feature: null,
    feature_values: { feature: null, columns: [] },
    scale: { ids: payload("int32", [2], [5, 9]), values: payload("float32", [2], [4, 4]), source: "stats" },
    explanations: { "9": "greetings & <em>stuff</em>" },
    d_sae: 16,
    error: "",
    ...overrides,
  };
}

function mount(s = state()) {
  const model = new FakeModel<HeatmapState>(s);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el });
  const tokens = () => Array.from(el.querySelectorAll<HTMLElement>(".saew-tok"));
  return { model, el, cleanup, tokens };
}

afterEach(() => document.body.replaceChildren());

describe("heatmap view", () => {
  it("shows every token, greys the sink and colours active tokens by their strongest feature", () => {
    const { el, tokens } = mount();
    expect(tokens().map((t) => t.textContent)).toEqual(["<s>", "Hello", " <b>world</b>", "↵\n"]);
    expect(el.querySelector("b")).toBeNull();
    const [sink, hello, world] = tokens();
    expect(sink.classList.contains("saew-sink")).toBe(true);
    expect(sink.style.backgroundColor).toBe("");
    expect(hello.style.backgroundColor).not.toBe("");
    // world's strongest feature is at its max (4 of 4): the darkest colour on a light page
    expect(world.style.backgroundColor).toBe("rgb(68, 1, 84)");
    expect(el.querySelector(".saew-hm-mode")!.textContent).toContain("strongest feature");
    expect(el.querySelector(".saew-legend")).not.toBeNull();
  });

  it("shows a token's top features on hover, explanations as text", () => {
    const { tokens } = mount();
    tokens()[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const tip = document.querySelector<HTMLElement>(".saew-tooltip")!;
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("#5");
    expect(tip.textContent).toContain("2.00");
    expect(tip.textContent).toContain("greetings & <em>stuff</em>");
    expect(tip.querySelector("em")).toBeNull();
    tokens()[1].dispatchEvent(new MouseEvent("mouseout", { bubbles: true, relatedTarget: document.body }));
    expect(tip.hidden).toBe(true);
  });

  it("pins a clicked token; clicking a feature sends it to Python and recolours when the column arrives", () => {
    const { model, el, tokens } = mount();
    tokens()[1].click();
    const pinned = el.querySelector<HTMLElement>(".saew-hm-pinned")!;
    expect(pinned.hidden).toBe(false);
    expect(tokens()[1].classList.contains("saew-pinned")).toBe(true);
    const button = pinned.querySelector<HTMLButtonElement>('button.saew-feat[data-feature="9"]')!;
    button.click();
    expect(model.saved.at(-1)).toMatchObject({ feature: 9 });
    const before = tokens().map((t) => t.style.backgroundColor);
    expect(el.querySelector(".saew-hm-mode")!.textContent).toContain("loading");
    // Python answers with feature 9's column
    model.update({ feature_values: { feature: 9, columns: [payload("float16", [4], [0, 1, 4, 0])] } });
    const after = tokens().map((t) => t.style.backgroundColor);
    expect(after).not.toEqual(before);
    expect(after[3]).toBe(""); // feature 9 is silent on the newline
    expect(el.querySelector(".saew-hm-mode")!.textContent).toBe("Colour: feature #9greetings & <em>stuff</em>");
    expect(pinned.querySelector(".saew-feat.saew-selected")!.getAttribute("data-feature")).toBe("9");
  });

  it("ignores a column sent for another feature", () => {
    const { model, tokens } = mount();
    model.set("feature", 5);
    const before = tokens().map((t) => t.style.backgroundColor);
    model.update({ feature_values: { feature: 9, columns: [payload("float16", [4], [0, 4, 4, 4])] } });
    expect(tokens().map((t) => t.style.backgroundColor)).toEqual(before);
  });

  it("sends a typed feature and shows Python's error", () => {
    const { model, el } = mount();
    const input = el.querySelector<HTMLInputElement>(".saew-hm-pick input")!;
    input.value = "1.5";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(el.querySelector(".saew-hm-error")!.textContent).toMatch(/whole number from 0 to 15/);
    input.value = "99";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(model.saved.at(-1)).toMatchObject({ feature: 99 });
    model.update({ feature: null, error: "feature 99 is out of range: this SAE has features 0..15." });
    const error = el.querySelector<HTMLElement>(".saew-hm-error")!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain("out of range");
  });

  it("stacks several prompts and shows notices and an empty state", () => {
    const { el } = mount(state({ prompts: [prompt(["<s>", "a"], [[[-1, 0], [-1, 0]], [[1, 1], [-1, 0]]]), prompt([], [], "Empty text")] }));
    expect(el.querySelectorAll(".saew-hm-prompt").length).toBe(2);
    expect(el.textContent).toContain("prompt 2 · 0 tokens");
    expect(el.querySelector(".saew-notice")!.textContent).toBe("Empty text");
    const empty = mount(state({ prompts: [] }));
    expect(empty.el.querySelector(".saew-empty")!.textContent).toMatch(/Nothing to show/);
  });

  it("says when colours are scaled within the text", () => {
    const { el } = mount(state({ scale: { source: "text" } }));
    expect(el.querySelector(".saew-hm-note")!.textContent).toMatch(/no activation statistics/);
  });

  it("ranks a dense feature after a rare one, set apart with its density; colours skip it; bars say what they measure", () => {
    // feature 5 fires on 60% of tokens (dense), feature 9 on 0.2%; on "Hello" 5 is the stronger of the two
    const dense = state({
      scale: { ids: payload("int32", [2], [5, 9]), values: payload("float32", [2], [4, 4]),
        density: payload("float32", [2], [0.6, 0.002]), source: "stats" },
    });
    const { el, tokens } = mount(dense);
    tokens()[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const tip = document.querySelector<HTMLElement>(".saew-tooltip")!;
    const order = Array.from(tip.querySelectorAll<HTMLElement>(".saew-feat")).map((r) => r.dataset.feature);
    expect(order).toEqual(["9", "5"]);
    const denseRow = tip.querySelector<HTMLElement>('.saew-feat[data-feature="5"]')!;
    expect(denseRow.classList.contains("saew-dense")).toBe(true);
    expect(denseRow.textContent).toContain("dense: fires on 60%");
    expect(tip.querySelector(".saew-feats-group")!.textContent).toMatch(/fire on most tokens/);
    expect(tip.querySelector(".saew-feats-caption")!.textContent).toBe(BAR_CAPTION);
    expect(tip.querySelector<HTMLElement>('.saew-feat[data-feature="9"] .saew-feat-bar')!.title).toMatch(/25% of feature #9's maximum/);
    // "Hello" is coloured by #9 (1 of 4: a light colour), not by the dense #5 (2 of 4)
    const plain = mount();
    expect(tokens()[1].style.backgroundColor).not.toBe(plain.tokens()[1].style.backgroundColor);
    expect(el.querySelector(".saew-hm-bar")!.textContent).toContain("colour = each token's strongest non-dense feature's activation ÷ its max");
    tokens()[1].click(); // the pinned list too
    const pinned = Array.from(el.querySelectorAll<HTMLElement>(".saew-hm-pinned button.saew-feat")).map((b) => b.dataset.feature);
    expect(pinned).toEqual(["9", "5"]);
    expect(el.querySelector(".saew-hm-pinned .saew-feats-caption")).not.toBeNull();
  });

  it("cleans up its listeners and tooltip", () => {
    const { model, cleanup } = mount();
    expect(model.listenerCount()).toBeGreaterThan(0);
    (cleanup as () => void)();
    expect(model.listenerCount()).toBe(0);
    expect(document.querySelector(".saew-tooltip")).toBeNull();
  });
});
