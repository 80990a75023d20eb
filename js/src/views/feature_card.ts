// Feature card (Python side: saewidgets/widgets/feature_card.py). Python sends the shown feature's
// dashboard in `card`; the view draws it and sends back only intents: a feature to show (neighbour
// click, typed index) through the `feature` traitlet, and requests for quantile examples as custom
// messages carrying an id, answered in the `quantiles` traitlet with the same id.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { connect, el, type Listeners } from "../dom";
import { decodeInt, type Payload } from "../codecs";
import { cardCss } from "../card_styles";
import { ColourScale, legend } from "../colour";
import { exampleList, loadExamples, type ExamplesPayload } from "../examples";
import { formatValue } from "../features";
import { histogram } from "../histogram";
import { css } from "../styles";
import { isDark } from "../theme";
import { visibleWhitespace } from "../tokens";

interface TokenValue {
  token: string;
  value: number;
}

/** One explanation method's answer: e.g. method "context", label "context words (MI)", quality = detection AUROC. */
export interface ExplanationAlternative {
  method: string;
  label: string;
  words: string[];
  quality?: number | null;
}

export interface Neighbour {
  feature: number;
  similarity?: number;
  cosine?: number; // the old decoder-only list
  explanation: string;
  density?: number;
}

export interface CardPayload {
  feature: number;
  stats: { max: number; frequency: number; mean: number; scale: number; tokens: number; source: string; texts: string };
  // old payloads: kind/text/tokens/words ("words": the vocabulary words its direction writes). Newer ones add
  // method/label/words (the best explanation) with its quality, "unclear", and the other methods' answers.
  explanation: {
    kind: string; text: string; tokens?: TokenValue[]; words?: string[];
    method?: string; label?: string; quality?: number | null; unclear?: boolean; alternatives?: ExplanationAlternative[];
  };
  histogram: { counts: Payload; hi: number };
  logits: { positive: TokenValue[]; negative: TokenValue[] };
  neighbors: Neighbour[];
  neighbors_by?: Record<string, Neighbour[]>;
  neighbors_default?: string;
  examples: ExamplesPayload;
}

/** What each neighbour list measures, as its title says it. */
export const NEIGHBOUR_TITLES: Record<string, string> = {
  coactivation: "fire together (co-activation)",
  decoder: "similar direction (decoder cosine)",
};

export interface QuantilesPayload {
  id?: number;
  feature?: number;
  intervals?: { label: string; examples: ExamplesPayload }[];
  error?: string;
}

export interface FeatureCardState {
  feature: number | null;
  d_sae: number;
  card: CardPayload | Record<string, never>;
  quantiles: QuantilesPayload;
  error: string;
}

function percent(p: number): string {
  if (p <= 0) return "0%";
  if (p >= 0.01) return `${(p * 100).toFixed(1)}%`;
  return `${(p * 100).toPrecision(2)}%`;
}

function tokensCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n);
}

function panel(title: string, ...children: Node[]): HTMLElement {
  const box = el("section", "saew-panel");
  box.append(el("h4", "", title), ...children);
  return box;
}

function logitColumn(head: string, rows: TokenValue[], kind: "pos" | "neg", hint: string): HTMLElement {
  const col = el("div", "saew-logits-col");
  const h = el("div", "saew-logits-head", head);
  h.title = hint;
  col.append(h);
  for (const r of rows) {
    const line = el("div", `saew-logit saew-${kind}`);
    line.title = `${visibleWhitespace(r.token)}: ${kind === "pos" ? "+" : ""}${formatValue(r.value)} on its logit per unit of activation`;
    line.append(el("span", "saew-chip", visibleWhitespace(r.token)), el("span", "saew-logit-value", formatValue(r.value)));
    col.append(line);
  }
  return col;
}

function isCard(c: FeatureCardState["card"]): c is CardPayload {
  return c !== null && typeof c === "object" && "feature" in c;
}

function render({ model, el: host }: Pick<RenderProps<FeatureCardState>, "model" | "el">) {
  const m = model as AnyModel<FeatureCardState>;
  const root = el("div", "saew-root saew-card");
  const style = el("style");
  style.textContent = css + cardCss;

  const head = el("div", "saew-card-head");
  const title = el("h3", "saew-card-title");
  const status = el("span", "saew-card-status");
  const pick = el("label", "saew-hm-pick", "go to");
  const input = el("input");
  input.type = "number";
  input.min = "0";
  input.step = "1";
  input.placeholder = "#";
  pick.append(input);
  head.append(title, status, pick);
  const error = el("div", "saew-hm-error");
  error.setAttribute("role", "alert");
  const body = el("div", "saew-card-body");
  root.append(style, head, error, body);
  host.replaceChildren(root);

  let scale = new ColourScale(isDark(host));
  let localError = "";
  let nextRequest = 1;
  let pending: { id: number; feature: number } | null = null; // the quantile request we wait for
  let quantilesBox: HTMLElement | null = null;

  const card = () => m.get("card");

  function showError() {
    const text = localError || m.get("error");
    error.textContent = text;
    error.hidden = !text;
  }

  function header() {
    const f = m.get("feature");
    const c = card();
    title.textContent = isCard(c) ? `Feature #${c.feature}` : "Feature card";
    const loading = f !== null && (!isCard(c) || c.feature !== f);
    root.classList.toggle("saew-loading", loading);
    status.textContent = loading ? `loading #${f}…` : "";
    input.max = String(m.get("d_sae") - 1);
    showError();
  }

  // ---- the card itself

  const quality = (q: number | null | undefined) => (typeof q === "number" && Number.isFinite(q) ? `detects ${q.toFixed(2)}` : "");
  const QUALITY_HINT = "detection score: how well these words predict which held-out windows make the feature fire (AUROC; 0.5 = chance, 1 = perfect)";

  /** One explanation line: its label, its words as chips (muted for an alternative), its quality. */
  function explanationLine(label: string, words: string[], q: number | null | undefined, kind: "best" | "alt" | "unclear", method: string,
    tokens?: TokenValue[]): HTMLElement {
    const line = el("div", `saew-card-expl saew-expl-${kind}`);
    line.dataset.method = method;
    if (kind === "alt") line.title = "another method's explanation (muted: it is not the one that detects the feature best)";
    line.append(el("span", "saew-card-expl-kind", `${label}:`));
    if (kind === "unclear") {
      line.append(el("b", "saew-expl-unclear", "unclear"));
      if (words.length) {
        const guess = el("span", "saew-card-words saew-expl-guess", `(best guess: ${words.join(", ")})`);
        guess.title = "the best-scoring method's words; they do not detect the feature well, so read the examples";
        line.append(guess);
      }
    } else if (method === "tokens" && tokens?.length) {
      for (const t of tokens) {
        const chip = el("span", "saew-chip", visibleWhitespace(t.token));
        chip.title = `mean activation ${formatValue(t.value)}`;
        line.append(chip);
      }
    } else line.append(el("span", "saew-card-words", words.length ? words.join(", ") : "—"));
    const qs = quality(q);
    if (qs) {
      const badge = el("span", "saew-expl-quality", qs);
      badge.title = QUALITY_HINT;
      line.append(badge);
    }
    return line;
  }

  function explanation(c: CardPayload): HTMLElement {
    const e = c.explanation;
    if (e.method) {
      // the best explanation first, under its method's label; the others muted, each with its label
      const both = el("div", "saew-card-expls");
      const unclear = !!e.unclear || e.method === "unclear";
      const label = e.label || e.method;
      if (unclear) {
        const line = explanationLine("explanation", e.words ?? [], e.quality, "unclear", e.method);
        line.title = "no explanation method detects this feature well: read its examples below";
        both.append(line);
      } else {
        both.append(explanationLine(label, e.words ?? [], e.quality, "best", e.method, e.tokens));
      }
      for (const a of e.alternatives ?? []) both.append(explanationLine(a.label || a.method, a.words ?? [], a.quality, "alt", a.method));
      return both;
    }
    // an older payload: top tokens are the explanation; the vocabulary words only an alternative
    const box = el("div", "saew-card-expl saew-expl-best");
    box.append(el("span", "saew-card-expl-kind", `${c.explanation.kind}:`));
    const tokens = c.explanation.tokens ?? [];
    if (tokens.length) {
      for (const t of tokens) {
        const chip = el("span", "saew-chip", visibleWhitespace(t.token));
        chip.title = `mean activation ${formatValue(t.value)}`;
        box.append(chip);
      }
    } else {
      box.append(el("span", "", c.explanation.text || "—"));
    }
    const words = c.explanation.words ?? [];
    if (!words.length) return box;
    const vocab = explanationLine("alternative, vocabulary words (embedding MI)", words, null, "alt", "vocabulary");
    vocab.title = "vocabulary words its decoder direction writes, ranked by mutual information (Wu et al. 2025); often unrelated to what the feature fires on at this layer";
    const both = el("div", "saew-card-expls");
    both.append(box, vocab);
    return both;
  }

  function stats(c: CardPayload): HTMLElement {
    const box = el("div", "saew-card-stats");
    const stat = (name: string, value: string, hint: string) => {
      const s = el("span");
      s.title = hint;
      s.append(`${name} `, el("b", "", value));
      box.append(s);
    };
    stat("density", percent(c.stats.frequency), "share of tokens on which the feature fires");
    stat("max", formatValue(c.stats.max), "largest activation in the analysed text");
    stat("mean when firing", formatValue(c.stats.mean), "mean activation over the tokens where it fires");
    const where = c.stats.texts === "custom" ? "your texts" : "the training corpus";
    box.append(el("span", "", `from ${tokensCount(c.stats.tokens)} tokens of ${where} (${c.stats.source})`));
    return box;
  }

  function neighbourList(rows: Neighbour[], by: string): HTMLElement {
    const list = el("div", "saew-nbs");
    list.dataset.by = by;
    if (rows.length === 0) list.append(el("span", "saew-empty", "none"));
    const measure = by === "coactivation" ? "co-activation similarity" : "cosine of the decoder directions";
    for (const n of rows) {
      const sim = n.similarity ?? n.cosine ?? 0;
      const b = el("button", "saew-nb");
      b.type = "button";
      b.dataset.feature = String(n.feature);
      const dense = typeof n.density === "number" && n.density > 0.1;
      b.title = `open feature #${n.feature} (${measure} ${sim.toFixed(3)}` +
        (typeof n.density === "number" ? `; fires on ${percent(n.density)} of tokens${dense ? ", dense" : ""}` : "") + ")";
      if (dense) b.classList.add("saew-dense");
      const expl = el("span", "saew-nb-expl", n.explanation);
      if (dense) expl.prepend(el("span", "saew-nb-density", `dense ${percent(n.density!)} · `));
      b.append(el("span", "saew-nb-id", `#${n.feature}`), el("span", "saew-nb-cos", sim.toFixed(2)), expl);
      list.append(b);
    }
    return list;
  }

  /** The neighbour panels: the default measure first, the other one too where its list differs. */
  function neighbourPanels(c: CardPayload): HTMLElement[] {
    const by = c.neighbors_by;
    if (!by || !Object.keys(by).length) {
      return [panel(`Neighbours: ${NEIGHBOUR_TITLES.decoder}`, neighbourList(c.neighbors, "decoder"))];
    }
    const names = Object.keys(by);
    const first = c.neighbors_default && by[c.neighbors_default] ? c.neighbors_default : names[0];
    const order = [first, ...names.filter((n) => n !== first)];
    const ids = (n: string) => by[n].map((r) => r.feature).sort((a, b) => a - b).join(",");
    const out: HTMLElement[] = [];
    for (const name of order) {
      if (name !== first && ids(name) === ids(first)) continue; // the same list twice says nothing new
      const box = panel(`Neighbours: ${NEIGHBOUR_TITLES[name] ?? name}`, neighbourList(by[name], name));
      box.classList.add("saew-nb-panel");
      box.dataset.by = name;
      out.push(box);
    }
    return out;
  }

  function quantilesSection(c: CardPayload): HTMLElement {
    const section = el("section", "saew-card-section");
    const top = el("div", "saew-card-section-head");
    top.append(el("h4", "", "Examples across activation quantiles"));
    const button = el("button", "saew-btn", "show");
    button.type = "button";
    button.dataset.action = "quantiles";
    button.title = "a random sample of the feature's firings, from the weakest tenth to the strongest";
    top.append(button);
    quantilesBox = el("div", "saew-q");
    section.append(top, quantilesBox);
    showQuantiles(c);
    return section;
  }

  function showQuantiles(c: CardPayload) {
    if (!quantilesBox) return;
    const q = m.get("quantiles");
    const button = root.querySelector<HTMLButtonElement>("[data-action=quantiles]");
    if (pending && pending.feature === c.feature && !(q?.id === pending.id)) {
      quantilesBox.replaceChildren(el("div", "saew-hint", "loading…"));
      if (button) button.disabled = true;
      return;
    }
    if (button) button.disabled = false;
    if (!q || q.feature !== c.feature || !q.intervals) {
      quantilesBox.replaceChildren();
      return;
    }
    if (button) button.hidden = true;
    if (q.error) return quantilesBox.replaceChildren(el("div", "saew-hm-error", q.error));
    if (q.intervals.length === 0) return quantilesBox.replaceChildren(el("div", "saew-empty", "no firings sampled"));
    const parts: HTMLElement[] = [];
    // strongest quantile first, as the top examples above
    for (const interval of [...q.intervals].reverse()) {
      parts.push(el("div", "saew-q-group", `quantile ${interval.label} of firings`));
      parts.push(exampleList(loadExamples(interval.examples), scale, c.stats.scale));
    }
    quantilesBox.replaceChildren(...parts);
  }

  function draw() {
    header();
    const c = card();
    quantilesBox = null;
    if (m.get("feature") === null || !isCard(c)) {
      body.replaceChildren(el("div", "saew-empty",
        "No feature selected. Click a feature in a heatmap linked to this card, or set card.feature in Python."));
      return;
    }
    const counts = decodeInt(c.histogram.counts).data;
    const panels = el("div", "saew-card-panels");
    const logits = el("div", "saew-logits");
    logits.append(
      logitColumn("raises ↑", c.logits.positive, "pos", "next tokens whose logits its decoder direction raises most (W_dec · W_U; logit change per unit of activation)"),
      logitColumn("lowers ↓", c.logits.negative, "neg", "next tokens whose logits its decoder direction lowers most (W_dec · W_U)"),
    );
    const lens = panel("Logit lens: next-token logits", logits);
    lens.title = "the logit lens: the decoder direction read through the unembedding (W_dec · W_U), i.e. which next tokens the feature makes likelier or less likely";
    const hist = panel("Activations when firing", histogram(counts, c.histogram.hi, c.stats.scale, c.stats.mean, scale),
      el("div", "saew-hint", "bar height = number of firings (log scale); colour = activation ÷ the feature's max"));
    panels.append(hist, lens, ...neighbourPanels(c));
    const examples = el("section", "saew-card-section");
    const exHead = el("div", "saew-card-section-head");
    exHead.append(el("h4", "", "Top activations"), legend(scale, "0", `${formatValue(c.stats.scale)} max`,
      "colour = activation ÷ the feature's maximum activation"));
    const ex = loadExamples(c.examples);
    examples.append(exHead, exampleList(ex, scale, c.stats.scale));
    body.replaceChildren(explanation(c), stats(c), panels, examples, quantilesSection(c));
  }

  // ---- intents

  function select(f: number) {
    localError = "";
    m.set("error", "");
    m.set("feature", f);
    m.save_changes();
    header();
  }

  function requestQuantiles() {
    const c = card();
    if (!isCard(c)) return;
    pending = { id: nextRequest++, feature: c.feature };
    m.send({ type: "quantiles", id: pending.id, feature: pending.feature });
    showQuantiles(c);
  }

  const onClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    const nb = target.closest<HTMLElement>("button.saew-nb");
    if (nb) return select(Number(nb.dataset.feature));
    if (target.closest("[data-action=quantiles]")) requestQuantiles();
  };
  const onInput = (e: KeyboardEvent) => {
    if (e.key !== "Enter") return;
    const text = input.value.trim();
    if (!/^\d+$/.test(text)) {
      localError = `feature must be a whole number from 0 to ${m.get("d_sae") - 1} (got "${text}").`;
      return showError();
    }
    select(Number(text));
  };
  root.addEventListener("click", onClick);
  input.addEventListener("keydown", onInput);

  // ---- model changes

  const onQuantiles = () => {
    const c = card();
    const q = m.get("quantiles");
    if (pending && q?.id === pending.id) pending = null;
    if (isCard(c)) showQuantiles(c);
  };
  const onCard = () => {
    pending = null;
    draw();
  };
  const onTheme = () => {
    scale = new ColourScale(isDark(host));
    draw();
  };
  const listeners: Listeners = [
    ["change:card", onCard],
    ["change:feature", header],
    ["change:error", header],
    ["change:quantiles", onQuantiles],
  ];
  const disconnect = connect(m, listeners, onTheme);
  draw();

  return () => {
    disconnect();
  };
}

export default { render };
