import { afterEach, describe, expect, it } from "vitest";
import { ColourScale } from "../src/colour";
import { exampleList, loadExamples, type ExamplesPayload } from "../src/examples";
import { histogram } from "../src/histogram";
// Views export only anywidget's documented `export default { render }`; the tests take render from it.
import view, { type CardPayload, type FeatureCardState } from "../src/views/feature_card";
const { render } = view;
import { FakeModel, payload } from "./helpers";

const W = 4;

/** What feature_card.py sends for a list of examples. */
function examples(rows: { tokens: string[]; acts: number[]; center: number }[]): ExamplesPayload {
  return {
    tokens: rows.map((r) => r.tokens),
    flags: payload("uint8", [rows.length, W], rows.flatMap((r) => r.tokens.map((t) => (t === "<|endoftext|>" ? 2 : 0)))),
    acts: payload("float16", [rows.length, W], rows.flatMap((r) => r.acts)),
    center: payload("int32", [rows.length], rows.map((r) => r.center)),
    value: payload("float32", [rows.length], rows.map((r) => r.acts[r.center])),
  };
}

function card(feature = 7): CardPayload {
  return {
    feature,
    stats: { max: 4, frequency: 0.0123, mean: 1.5, scale: 4, tokens: 1_200_000, source: "shipped", texts: "corpus:train" },
    explanation: { kind: "top tokens", text: " Bridge,  bridge", tokens: [{ token: " Bridge", value: 3.5 }, { token: " bridge", value: 2 }] },
    histogram: { counts: payload("int32", [4], [10, 0, 3, 1]), hi: 4 },
    logits: {
      positive: [{ token: " bridges", value: 2.5 }, { token: "<b>", value: 1 }],
      negative: [{ token: " the", value: -1.25 }],
    },
    neighbors: [{ feature: 12, cosine: 0.61, explanation: " Gate, Golden" }, { feature: 99, cosine: 0.4, explanation: "" }],
    examples: examples([
      { tokens: ["<|endoftext|>", "The", " Golden", " Gate"], acts: [0, 0, 1, 4], center: 3 },
      { tokens: [" old", " <img src=x onerror=alert(1)>", " bridge", "\n"], acts: [0, 0, 2, 0.5], center: 2 },
    ]),
  };
}

function state(overrides: Partial<FeatureCardState> = {}): FeatureCardState {
  return { feature: 7, d_sae: 128, card: card(), quantiles: {}, error: "", ...overrides };
}

function mount(s = state()) {
  const model = new FakeModel<FeatureCardState>(s);
  const sent: any[] = [];
  (model as any).send = (msg: unknown) => sent.push(msg);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el });
  return { model, el, cleanup, sent };
}

afterEach(() => document.body.replaceChildren());

describe("feature card view", () => {
  it("shows the explanation, statistics, histogram, logit lens and neighbours", () => {
    const { el } = mount();
    expect(el.querySelector(".saew-card-title")!.textContent).toBe("Feature #7");
    const chips = Array.from(el.querySelectorAll(".saew-card-expl .saew-chip")).map((c) => c.textContent);
    expect(chips).toEqual(["·Bridge", "·bridge"]);
    const stats = el.querySelector(".saew-card-stats")!.textContent!;
    expect(stats).toContain("density 1.2%");
    expect(stats).toContain("max 4.00");
    expect(stats).toContain("1.2M tokens of the training corpus");
    expect(el.querySelectorAll(".saew-hist-bar").length).toBe(3); // empty bins draw nothing
    const logits = el.querySelector(".saew-logits")!;
    expect(logits.textContent).toContain("·bridges");
    expect(logits.querySelector("b")).toBeNull(); // "<b>" is a token, shown as text
    expect(logits.querySelectorAll(".saew-logit.saew-neg").length).toBe(1);
    const nbs = Array.from(el.querySelectorAll<HTMLElement>("button.saew-nb")).map((b) => b.dataset.feature);
    expect(nbs).toEqual(["12", "99"]);
  });

  it("draws each top example as a heatmap line around its token, markup as text", () => {
    const { el } = mount();
    const rows = el.querySelectorAll(".saew-ex");
    expect(rows.length).toBe(2);
    expect(rows[0].querySelector(".saew-ex-center")!.textContent).toBe(" Gate");
    expect(rows[0].querySelector(".saew-ex-before")!.textContent).toBe("<|endoftext|>The Golden");
    expect(rows[0].querySelector(".saew-ex-tok.saew-special")!.textContent).toBe("<|endoftext|>");
    expect(rows[0].querySelector(".saew-ex-value")!.textContent).toBe("4.00");
    // the centre token is at the feature's max: the darkest colour on a light page
    expect(rows[0].querySelector<HTMLElement>(".saew-ex-center .saew-ex-tok")!.style.backgroundColor).toBe("rgb(68, 1, 84)");
    expect(rows[1].querySelector(".saew-ex-after")!.textContent).toBe("↵"); // a newline never breaks the row
    expect(rows[1].textContent).toContain("<img src=x onerror=alert(1)>");
    expect(el.querySelector("img")).toBeNull();
  });

  it("opens a neighbour: the feature goes to Python and the card follows", () => {
    const { model, el } = mount();
    el.querySelector<HTMLButtonElement>('button.saew-nb[data-feature="12"]')!.click();
    expect(model.saved.at(-1)).toMatchObject({ feature: 12 });
    expect(el.querySelector(".saew-card-status")!.textContent).toBe("loading #12…");
    expect(el.querySelector(".saew-card")!.classList.contains("saew-loading")).toBe(true);
    model.update({ card: card(12) });
    expect(el.querySelector(".saew-card-title")!.textContent).toBe("Feature #12");
    expect(el.querySelector(".saew-card-status")!.textContent).toBe("");
  });

  it("asks for quantile examples with an id and shows only the matching answer", () => {
    const { model, el, sent } = mount();
    el.querySelector<HTMLButtonElement>("[data-action=quantiles]")!.click();
    expect(sent).toEqual([{ type: "quantiles", id: 1, feature: 7 }]);
    expect(el.querySelector(".saew-q")!.textContent).toBe("loading…");
    const intervals = [
      { label: "0%–50%", examples: examples([{ tokens: ["a", "b", "c", "d"], acts: [0, 0.5, 0, 0], center: 1 }]) },
      { label: "50%–100%", examples: examples([{ tokens: ["e", "f", "g", "h"], acts: [0, 0, 3, 0], center: 2 }]) },
    ];
    model.update({ quantiles: { id: 99, feature: 7, intervals } }); // a stale answer
    expect(el.querySelector(".saew-q")!.textContent).toBe("loading…");
    model.update({ quantiles: { id: 1, feature: 7, intervals } });
    const groups = Array.from(el.querySelectorAll(".saew-q-group")).map((g) => g.textContent);
    expect(groups).toEqual(["quantile 50%–100% of firings", "quantile 0%–50% of firings"]);
    expect(el.querySelectorAll(".saew-q .saew-ex").length).toBe(2);
  });

  it("shows an empty state, Python's errors and its own", () => {
    const { model, el } = mount(state({ feature: null, card: {} }));
    expect(el.querySelector(".saew-empty")!.textContent).toMatch(/No feature selected/);
    const input = el.querySelector<HTMLInputElement>(".saew-hm-pick input")!;
    input.value = "x1";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(el.querySelector(".saew-hm-error")!.textContent).toMatch(/whole number from 0 to 127/);
    input.value = "500";
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(model.saved.at(-1)).toMatchObject({ feature: 500 });
    model.update({ feature: null, error: "feature 500 is out of range: this SAE has features 0..127." });
    const error = el.querySelector<HTMLElement>(".saew-hm-error")!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain("out of range");
  });

  it("labels the logit-lens columns and says what the histogram's bars and colours measure", () => {
    const { el } = mount();
    const heads = Array.from(el.querySelectorAll<HTMLElement>(".saew-logits-head"));
    expect(heads.map((h) => h.textContent)).toEqual(["raises ↑", "lowers ↓"]);
    expect(heads[0].title).toMatch(/next tokens whose logits its decoder direction raises most \(W_dec · W_U/);
    expect(el.textContent).toContain("Logit lens: next-token logits");
    expect(el.textContent).toContain("colour = activation ÷ the feature's max");
  });

  it("an old payload: top tokens are the explanation, the vocabulary words only a labelled alternative", () => {
    const c = card();
    c.explanation.words = ["stock", "actually"];
    const { el } = mount(state({ card: c }));
    const best = el.querySelector<HTMLElement>(".saew-expl-best")!;
    expect(best.textContent).toContain("top tokens:");
    const alt = el.querySelector<HTMLElement>(".saew-expl-alt")!;
    expect(alt.textContent).toBe("alternative, vocabulary words (embedding MI):stock, actually");
    expect(el.textContent).not.toContain("writes words");
  });

  it("a new payload: the best explanation first under its method's label with its quality, alternatives muted", () => {
    const c = card();
    Object.assign(c.explanation, {
      method: "context", label: "context words (MI)", words: ["ocean", "sea", "<b>waves</b>"], quality: 0.8234, unclear: false,
      alternatives: [{ method: "vocabulary", label: "vocabulary words (embedding MI)", words: ["stock", "right"], quality: 0.51 },
        { method: "tokens", label: "top tokens", words: [" Bridge"], quality: null }],
    });
    const { el } = mount(state({ card: c }));
    const lines = Array.from(el.querySelectorAll<HTMLElement>(".saew-card-expls > .saew-card-expl"));
    expect(lines.map((l) => l.dataset.method)).toEqual(["context", "vocabulary", "tokens"]);
    expect(lines[0].classList.contains("saew-expl-best")).toBe(true);
    expect(lines[0].textContent).toBe("context words (MI):ocean, sea, <b>waves</b>detects 0.82");
    expect(el.querySelector(".saew-card-expls b")).toBeNull(); // words are text
    expect(lines[1].classList.contains("saew-expl-alt")).toBe(true);
    expect(lines[1].textContent).toBe("vocabulary words (embedding MI):stock, rightdetects 0.51");
    expect(lines[2].textContent).toBe("top tokens:·Bridge".replace("·", " "));
  });

  it("an unclear explanation says so instead of confident words, its best guess and the alternatives muted", () => {
    const c = card();
    Object.assign(c.explanation, {
      method: "unclear", label: "unclear", words: ["stock", "actually"], quality: 0.53, unclear: true,
      alternatives: [{ method: "tokens", label: "top tokens", words: [" the"], quality: 0.5 }],
    });
    const { el } = mount(state({ card: c }));
    const lines = Array.from(el.querySelectorAll<HTMLElement>(".saew-card-expls > .saew-card-expl"));
    expect(lines[0].querySelector(".saew-expl-unclear")!.textContent).toBe("unclear");
    expect(lines[0].querySelector(".saew-expl-guess")!.textContent).toBe("(best guess: stock, actually)");
    expect(lines[0].querySelector(".saew-expl-best, .saew-card-words:not(.saew-expl-guess)")).toBeNull();
    expect(lines[0].textContent).toContain("detects 0.53");
    expect(lines.slice(1).map((l) => l.classList.contains("saew-expl-alt"))).toEqual([true]);
  });

  it("top tokens as the best method show as chips with their mean activations", () => {
    const c = card();
    Object.assign(c.explanation, { method: "tokens", label: "top tokens", words: ["Bridge", "bridge"], quality: 0.7, alternatives: [] });
    const { el } = mount(state({ card: c }));
    const chips = Array.from(el.querySelectorAll<HTMLElement>(".saew-expl-best .saew-chip"));
    expect(chips.map((x) => x.textContent)).toEqual(["·Bridge", "·bridge"]);
    expect(chips[0].title).toBe("mean activation 3.50");
  });

  it("shows the default neighbour list first and the other where it differs, each titled by its measure", () => {
    const c = card();
    c.neighbors_by = {
      decoder: [{ feature: 12, similarity: 0.61, explanation: "buf, Buf", density: 0.001 }],
      coactivation: [{ feature: 30, similarity: 0.4, explanation: "sea, waves", density: 0.3 }, { feature: 31, similarity: 0.2, explanation: "beach" }],
    };
    c.neighbors_default = "coactivation";
    const { el, model } = mount(state({ card: c }));
    const panels = Array.from(el.querySelectorAll<HTMLElement>(".saew-nb-panel"));
    expect(panels.map((p) => p.dataset.by)).toEqual(["coactivation", "decoder"]);
    expect(panels[0].querySelector("h4")!.textContent).toBe("Neighbours: fire together (co-activation)");
    expect(panels[1].querySelector("h4")!.textContent).toBe("Neighbours: similar direction (decoder cosine)");
    const dense = panels[0].querySelector<HTMLElement>('button.saew-nb[data-feature="30"]')!;
    expect(dense.classList.contains("saew-dense")).toBe(true);
    expect(dense.textContent).toContain("dense 30.0% · sea, waves");
    expect(panels[0].querySelector<HTMLElement>('button.saew-nb[data-feature="31"]')!.title).not.toContain("dense");
    panels[1].querySelector<HTMLButtonElement>('button.saew-nb[data-feature="12"]')!.click();
    expect(model.saved.at(-1)).toMatchObject({ feature: 12 });
    // the same features in both lists: one panel
    c.neighbors_by.decoder = [c.neighbors_by.coactivation[1], c.neighbors_by.coactivation[0]];
    const same = mount(state({ card: c }));
    expect(same.el.querySelectorAll(".saew-nb-panel").length).toBe(1);
  });

  it("wraps an example's context after its token instead of clipping it at the right edge", () => {
    const { el } = mount();
    const css = el.querySelector("style")!.textContent!;
    expect(css).toMatch(/\.saew-ex-after \.saew-ex-line \{ white-space: pre-wrap/);
    expect(css).not.toMatch(/\.saew-ex-after \{[^}]*overflow: hidden/);
  });

  it("cleans up its listeners", () => {
    const { model, cleanup } = mount();
    expect(model.listenerCount()).toBeGreaterThan(0);
    (cleanup as () => void)();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("card helpers", () => {
  it("histogram: one bar per non-empty bin, coloured by activation, log heights", () => {
    const svg = histogram(new Int32Array([100, 10, 0, 1]), 8, 8, 2, new ColourScale(false));
    const bars = Array.from(svg.querySelectorAll("rect"));
    expect(bars.length).toBe(3);
    const heights = bars.map((b) => Number(b.getAttribute("height")));
    expect(heights[0]).toBeGreaterThan(heights[1]);
    expect(heights[1]).toBeGreaterThan(heights[2]);
    expect(heights[1] / heights[0]).toBeGreaterThan(0.4); // log scale: 10 is not a tenth of 100
    expect(bars[0].getAttribute("fill")).not.toBe(bars[2].getAttribute("fill"));
    expect(svg.querySelector("title")!.textContent).toContain("111 firings");
    expect(histogram(new Int32Array(0), 0, 1, 0, new ColourScale(false)).textContent).toContain("never fired");
  });

  it("examples: an empty list says so", () => {
    const list = exampleList(loadExamples(examples([])), new ColourScale(true), 1);
    expect(list.textContent).toMatch(/never fired/);
  });
});
