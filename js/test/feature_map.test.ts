// The feature map's view in jsdom: a Canvas 2D stand-in (jsdom has neither WebGL nor a 2D canvas).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import view, { declutter, DENSE, MAP_COLOURS, type MapState } from "../src/views/feature_map";
const { render } = view;
import { toPixel } from "../src/scatter";
import { FakeModel, payload } from "./helpers";

const N = 12;
// three clusters: 0 (points 0-5, the largest), 1 (6-9), 2 (10-11); clusters 1 and 2 share a centre
const CLUSTER = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
const XY = CLUSTER.flatMap((c, i) => (c === 0 ? [0.2 + 0.01 * i, 0.2] : [0.7 + 0.001 * i, 0.7]));

function state(overrides: Partial<MapState> = {}): MapState {
  return {
    feature: null,
    d_sae: 100,
    points: {
      xy: payload("float32", [N, 2], XY),
      cluster: payload("uint8", [N], CLUSTER),
      density: payload("uint8", [N], CLUSTER.map(() => 100)),
      features: payload("int32", [N], CLUSTER.map((_, i) => 40 + i)),
      texts: new DataView(new TextEncoder().encode(CLUSTER.map((_, i) => `#${40 + i}  words <b>${i}</b>`).join("\n")).buffer),
    },
    labels: ["music, song, band", "ocean, sea, waves", "river, lake"],
    notice: "",
    colour_by: "cluster",
    neighbors: {},
    matches: {},
    activation: {},
    error: "",
    height: 400,
    ...overrides,
  };
}

beforeEach(() => {
  const ctx = { setTransform() {}, clearRect() {}, fillRect() {}, fillStyle: "" };
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(((kind: string) => (kind === "2d" ? ctx : null)) as never);
  vi.stubGlobal("requestAnimationFrame", (f: FrameRequestCallback) => { f(0); return 0; });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

function mount(s = state()) {
  const model = new FakeModel<MapState>(s);
  const sent: any[] = [];
  (model as any).send = (msg: unknown) => sent.push(msg);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el } as never);
  const root = el.querySelector<HTMLElement>(".saew-map")!;
  return { model, el, root, cleanup, sent };
}

/** What feature_map.py answers to a search. */
function matches(id: number, query: string, ids: number[], density?: number[]): MapState["matches"] {
  return {
    id, query, message: "",
    ids: payload("int32", [ids.length], ids),
    scores: payload("float32", [ids.length], ids.map((_, j) => 1 - j / 10)),
    ...(density ? { density: payload("float32", [ids.length], density) } : {}),
  };
}

function search(el: HTMLElement, query: string) {
  const box = el.querySelector<HTMLInputElement>("input.saew-map-search")!;
  box.value = query;
  box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
}

describe("feature map view", () => {
  it("suggests a word that works", () => {
    expect(mount().el.querySelector<HTMLInputElement>("input.saew-map-search")!.placeholder).toBe("search words, e.g. music");
    expect(mount(state({ search_hint: "ocean" })).el.querySelector<HTMLInputElement>("input.saew-map-search")!.placeholder)
      .toBe("search words, e.g. ocean");
  });

  it("lists a search's matches as buttons with their labels (as text); a click selects; dense ones go last", () => {
    const { el, model, sent } = mount();
    search(el, "music");
    expect(sent).toEqual([{ type: "search", id: 1, query: "music" }]);
    model.update({ matches: matches(1, "music", [43, 41, 47], [0.5, 0.01, 0.002]) });
    const items = Array.from(el.querySelectorAll<HTMLButtonElement>(".saew-map-list button.saew-map-item"));
    expect(items.map((b) => b.dataset.feature)).toEqual(["41", "47", "43"]); // #43 fires on half the tokens
    expect(items[0].textContent).toContain("words <b>1</b>");
    expect(el.querySelector(".saew-map-list b")).toBeNull();
    expect(items[2].classList.contains("saew-dense")).toBe(true);
    expect(items[2].textContent).toContain("50.0%");
    expect(el.querySelector(".saew-map-group")!.textContent).toContain(`${DENSE * 100}%`);
    expect(el.querySelector(".saew-map-list-title")!.textContent).toBe('3 matches for "music"');
    items[1].click();
    expect(model.get("feature")).toBe(47);
    expect(model.saved.at(-1)).toEqual({ feature: 47 });
  });

  it("names each overlay colour in a key, matches and neighbours in different colours", () => {
    const { el, model } = mount();
    model.set("feature", 40);
    model.update({ neighbors: { feature: 40, ids: payload("int32", [2], [41, 42]), by: "decoder" } });
    const key = () => Object.fromEntries(Array.from(el.querySelectorAll<HTMLElement>(".saew-map-key-item"))
      .map((k) => [k.dataset.key, [k.textContent, (k.firstElementChild as HTMLElement).style.background]]));
    expect(key().neighbour[0]).toContain("neighbour of #40: similar direction (decoder cosine)");
    expect(key().selected[0]).toContain("selected #40");
    search(el, "ocean");
    model.update({ matches: matches(1, "ocean", [46, 47]) });
    const k = key();
    expect(k.match[0]).toContain('search match for "ocean" (2)');
    const [light] = MAP_COLOURS.match;
    expect(k.match[1]).toBe(`rgb(${light.join(", ")})`);
    expect(MAP_COLOURS.match[0]).not.toEqual(MAP_COLOURS.neighbour[0]);
    expect(MAP_COLOURS.match[1]).not.toEqual(MAP_COLOURS.neighbour[1]);
  });

  it("a new search clears the old selection's neighbour highlighting; a new selection shows its own", () => {
    const { el, model, root } = mount();
    model.set("feature", 40);
    model.update({ neighbors: { feature: 40, ids: payload("int32", [2], [41, 42]) } });
    expect(root.dataset.neighbours).toBe("2");
    search(el, "music");
    expect(root.dataset.neighbours).toBe("0");
    model.update({ matches: matches(1, "music", [46]) });
    model.update({ neighbors: { feature: 40, ids: payload("int32", [2], [41, 42]) } }); // a late repeat
    expect(root.dataset.neighbours).toBe("0");
    expect(el.querySelector('.saew-map-key-item[data-key="neighbour"]')).toBeNull();
    model.set("feature", 46);
    model.update({ neighbors: { feature: 46, ids: payload("int32", [1], [47]) } });
    expect(root.dataset.neighbours).toBe("1");
  });

  it("places cluster labels without overlaps, the largest cluster first", () => {
    const { el, root } = mount();
    const labels = Array.from(el.querySelectorAll<HTMLElement>(".saew-map-label"));
    expect(labels.map((l) => l.textContent)).toEqual(["music, song, band", "ocean, sea, waves", "river, lake"]);
    // clusters 1 and 2 share a centre: one of their labels must go, the larger cluster's stays
    expect(labels.map((l) => l.style.display)).toEqual(["", "", "none"]);
    expect(root.dataset.labelsShown).toBe("2");
  });

  it("declutter keeps the first of two overlapping boxes and every box that fits", () => {
    const box = (x: number, y: number) => ({ left: x, top: y, right: x + 50, bottom: y + 15 });
    expect(declutter([box(0, 0), box(30, 5), box(100, 0), null], [0, 1, 2, 3])).toEqual([true, false, true, false]);
    expect(declutter([box(0, 0), box(30, 5), box(100, 0)], [1, 0, 2])).toEqual([false, true, true]);
  });

  it("a click on a cluster label lists that cluster's features and fades the others", () => {
    const { el, root, model } = mount();
    el.querySelectorAll<HTMLElement>(".saew-map-label")[1].click();
    const items = Array.from(el.querySelectorAll<HTMLButtonElement>(".saew-map-list button.saew-map-item"));
    expect(items.map((b) => Number(b.dataset.feature)).sort()).toEqual([46, 47, 48, 49]);
    expect(el.querySelector(".saew-map-list-title")!.textContent).toBe('cluster "ocean, sea, waves": 4 features');
    expect(root.dataset.cluster).toBe("1");
    expect(el.querySelector('.saew-map-key-item[data-key="cluster"]')!.textContent).toContain("ocean, sea, waves");
    expect(model.get("feature")).toBeNull(); // a label click is not a point click
    el.querySelector<HTMLElement>("[data-action=close-list]")!.click();
    expect(el.querySelector<HTMLElement>(".saew-map-list")!.hidden).toBe(true);
    expect(root.dataset.cluster).toBeUndefined();
  });

  it("a click on a label over a highlighted match selects the match, not the cluster", () => {
    const { el, model, root } = mount();
    search(el, "music");
    model.update({ matches: matches(1, "music", [42, 43]) });
    const [px, py] = toPixel(0.225, 0.2, 600, 400, { k: 1, tx: 0, ty: 0 }); // cluster 0's centre: its label
    el.querySelector<HTMLElement>('.saew-map-label[data-cluster="0"]')!
      .dispatchEvent(new MouseEvent("click", { bubbles: true, clientX: px, clientY: py }));
    expect([42, 43]).toContain(model.get("feature"));
    expect(root.dataset.cluster).toBeUndefined();
  });

  it("cleans up its listeners", () => {
    const { model, cleanup } = mount();
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});
