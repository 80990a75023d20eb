// The script of a saved page (saewidgets/widgets/export.py): runs each view's own ES module, as anywidget
// would, against a model that lives in the page instead of a kernel. What a kernel would answer was recorded
// when the page was saved:
//   - a change of `feature` applies that feature's recorded traits (the heatmap's column, the card's data,
//     the map's neighbours), or says plainly that the feature was not recorded;
//   - links between models (ipywidgets.jslink in the explorer) carry `feature` from view to view;
//   - the map's search runs here, over the shipped explanations; the steering panel's generations are the
//     recorded ones, and asking for new ones says that a kernel is needed.
// Everything comes from one gzip+base64 JSON blob in the page: no network, works from file://.

import { decode, type Payload } from "./codecs";

type State = Record<string, unknown>;
type Handler = (...args: unknown[]) => void;

interface SavedModel {
  id: string;
  bundle: string;                              // key into Saved.bundles
  state: State;
  recorded?: Record<string, State>;            // feature -> the traits the kernel set for it
  neighbor_table?: { ids: unknown; cosine: unknown; k: number }; // the map: every feature's neighbours
  search_index?: string[];                     // the map: each feature's explanation words, for search
}

interface Saved {
  bundles: Record<string, string>;
  models: SavedModel[];
  views: string[];                             // model ids, in page order
  links: [string, string, string, string][];   // [source id, source trait, target id, target trait]
  recorded_features?: number;
}

/** `{"$b64": "..."}` (bytes in the saved JSON) -> DataView, as ipywidgets hands binary buffers to views. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (typeof obj.$b64 === "string" && Object.keys(obj).length === 1) {
      const bytes = fromBase64(obj.$b64);
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = revive(v);
    return out;
  }
  return value;
}

function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

async function inflate(b64: string): Promise<string> {
  const stream = new Blob([fromBase64(b64) as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

function payload(dtype: string, array: Int32Array | Float32Array) {
  return { dtype, shape: [array.length], data: new DataView(array.buffer, array.byteOffset, array.byteLength) };
}

/** Enough of anywidget's model for a view: get/set/on/off/save_changes/send, answered from the recording. */
class PageModel {
  private handlers = new Map<string, Set<Handler>>();
  private state: State;
  private pendingFeature = false;
  links: { trait: string; target: PageModel; targetTrait: string }[] = [];

  constructor(readonly saved: SavedModel, readonly page: Page) {
    this.state = revive(saved.state) as State;
  }

  get(key: string): unknown {
    return this.state[key];
  }

  set(key: string, value: unknown): void {
    if (this.state[key] === value) return;
    this.state[key] = value;
    this.emit(`change:${key}`, value);
    if (key === "feature") this.pendingFeature = true;
    for (const link of this.links) {
      if (link.trait === key) {
        link.target.set(link.targetTrait, value);
        link.target.save_changes();
      }
    }
  }

  /** What syncing to the kernel would do: the kernel's answer to a new feature, from the recording. */
  save_changes(): void {
    if (!this.pendingFeature) return;
    this.pendingFeature = false;
    const feature = this.state.feature as number | null;
    queueMicrotask(() => this.answerFeature(feature));
  }

  private answerFeature(feature: number | null): void {
    if (this.state.feature !== feature) return; // a later change has its own answer
    const recorded = this.saved.recorded ?? {};
    const patch = feature === null ? recorded["null"] : recorded[String(feature)];
    if (patch) {
      this.update(revive(patch) as State);
      return;
    }
    const table = this.saved.neighbor_table;
    if (table && feature !== null) {
      const ids = this.page.decoded(table.ids) as Int32Array;
      const cos = this.page.decoded(table.cosine) as Float32Array;
      const k = table.k;
      this.update({ error: "", neighbors: { feature, ids: payload("int32", ids.slice(feature * k, feature * k + k)),
                                            cosine: payload("float32", cos.slice(feature * k, feature * k + k)) } });
      return;
    }
    if (!this.saved.recorded) return; // a view that keeps nothing per feature
    const n = Object.keys(recorded).filter((k) => k !== "null").length;
    this.update({ error: `feature ${feature} was not recorded in this saved page (it has the ${n} features the ` +
                         "views showed when it was saved); open the notebook with a kernel to see any feature." });
  }

  /** Python changed traits: set them and tell the views, as a kernel message would. */
  update(changes: State): void {
    for (const [key, value] of Object.entries(changes)) this.state[key] = value;
    for (const [key, value] of Object.entries(changes)) this.emit(`change:${key}`, value);
  }

  send(content: unknown): void {
    const msg = (content ?? {}) as Record<string, unknown>;
    queueMicrotask(() => this.answer(msg));
  }

  private answer(msg: Record<string, unknown>): void {
    if (msg.type === "search" && this.saved.search_index) {
      this.update({ matches: this.page.search(this.saved.search_index, String(msg.query ?? ""), msg.id) });
    } else if (msg.type === "quantiles") {
      this.update({ quantiles: { id: msg.id, feature: msg.feature, intervals: [],
                                 error: "quantile samples need a kernel; this saved page has the top examples only." } });
    } else if (msg.type === "run" || msg.type === "add" || msg.type === "search" || msg.type === "stop") {
      this.update({ error: "This is a saved page with no kernel: the generations shown were recorded in the " +
                           "notebook. Open the notebook with a kernel to steer." });
    }
  }

  on(name: string, handler: Handler): void {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name)!.add(handler);
  }

  off(name?: string | null, handler?: Handler | null): void {
    if (!name) return this.handlers.clear();
    if (!handler) return void this.handlers.delete(name);
    this.handlers.get(name)?.delete(handler);
  }

  private emit(name: string, value: unknown): void {
    for (const handler of [...(this.handlers.get(name) ?? [])]) handler(value);
  }

  get widget_manager() {
    return { get_model: async (id: string) => this.page.models.get(id) };
  }
}

class Page {
  models = new Map<string, PageModel>();
  private cache = new WeakMap<object, unknown>();

  constructor(readonly saved: Saved) {
    for (const m of saved.models) this.models.set(m.id, new PageModel(m, this));
    for (const [source, trait, target, targetTrait] of saved.links) {
      const from = this.models.get(source);
      const to = this.models.get(target);
      if (from && to) { // both ways, as ipywidgets.jslink; set() ignores an unchanged value, so no loop
        from.links.push({ trait, target: to, targetTrait });
        to.links.push({ trait: targetTrait, target: from, targetTrait: trait });
      }
    }
  }

  /** A saved array (`{dtype, shape, data: {$b64}}`) as a typed array (float16 widened), decoded once. */
  decoded(saved: unknown): Int32Array | Float32Array {
    const key = saved as object;
    if (!this.cache.has(key)) this.cache.set(key, decode(revive(saved) as Payload).data);
    return this.cache.get(key) as Int32Array | Float32Array;
  }

  /** Features whose explanation has the query's words, best first: a word matched early counts more. */
  search(index: string[], query: string, id: unknown) {
    const words = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    const scored: [number, number][] = [];
    if (words.length) {
      index.forEach((text, feature) => {
        const have = text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
        let score = 0;
        for (const w of words) {
          const at = have.findIndex((h) => h === w || (w.length > 3 && h.startsWith(w)));
          if (at >= 0) score += 1 / (1 + at / 4);
        }
        if (score > 0) scored.push([feature, score]);
      });
      scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    }
    const top = scored.slice(0, 20);
    return {
      id, query,
      ids: payload("int32", Int32Array.from(top.map((s) => s[0]))),
      scores: payload("float32", Float32Array.from(top.map((s) => s[1]))),
      message: words.length && !top.length ? `no shipped explanation has "${query}" (searched in this saved page)` : "",
    };
  }
}

async function importBundle(esm: string): Promise<{ default?: { render?: Function }; render?: Function }> {
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  try {
    return await import(/* @vite-ignore */ url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function main(): Promise<void> {
  const blob = document.getElementById("saew-saved");
  const root = document.getElementById("saew-views");
  if (!blob || !root) return;
  const saved = JSON.parse(await inflate(blob.textContent!.trim())) as Saved;
  const page = new Page(saved);
  (window as unknown as { saewPage: Page }).saewPage = page; // for tests and the curious
  const modules = new Map<string, { render?: Function }>();
  for (const id of saved.views) {
    const model = page.models.get(id)!;
    const key = model.saved.bundle;
    if (!modules.has(key)) {
      const mod = await importBundle(saved.bundles[key]);
      modules.set(key, mod.default ?? mod);
    }
    const el = document.createElement("div");
    el.className = "saew-saved-view";
    el.dataset.model = id;
    root.appendChild(el);
    await modules.get(key)!.render!({ model, el, experimental: {} });
  }
  document.body.dataset.saewReady = "true";
}

main().catch((err) => {
  document.body.dataset.saewReady = "error";
  const box = document.getElementById("saew-views");
  if (box) {
    const p = document.createElement("p");
    p.className = "saew-saved-error";
    p.textContent = `This saved page could not start its views: ${err}`;
    box.appendChild(p);
  }
  throw err;
});
