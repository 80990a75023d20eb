// Dataset examples as one-line heatmaps: the context before the example's token, the token, the context
// after. The token sits in a fixed column (the before-part is right-aligned and clipped on the left), so a
// list of examples reads like a concordance. Token text goes in as text nodes only, never HTML.
import { decodeBytes, decodeFloat, decodeInt, type Payload } from "./codecs";
import type { ColourScale } from "./colour";
import { formatValue } from "./features";
import { FLAG_SPECIAL, visibleWhitespace } from "./tokens";

/** What Python sends for a list of examples (saewidgets/widgets/feature_card.py, `_examples`). */
export interface ExamplesPayload {
  tokens: string[][];
  flags: Payload; // uint8 [n, W]
  acts: Payload; // float16 [n, W]: the feature's activation on each token
  center: Payload; // int32 [n]: the example's token within the window
  value: Payload; // float32 [n]: its activation
}

export interface Examples {
  tokens: string[][];
  flags: Uint8Array;
  acts: Float32Array;
  width: number;
  center: Int32Array;
  value: Float32Array;
}

export function loadExamples(p: ExamplesPayload): Examples {
  const acts = decodeFloat(p.acts);
  return {
    tokens: p.tokens,
    flags: decodeBytes(p.flags).data,
    acts: acts.data,
    width: acts.shape[1] ?? 0,
    center: decodeInt(p.center).data,
    value: decodeFloat(p.value).data,
  };
}

/** A token on one line: newlines and tabs as faint glyphs so a row never breaks. */
function inlinePiece(piece: string): string {
  return piece.replace(/\r?\n/g, "↵").replace(/\t/g, "→");
}

function span(className: string, text = ""): HTMLSpanElement {
  const s = document.createElement("span");
  s.className = className;
  if (text) s.textContent = text;
  return s;
}

function tokenSpan(piece: string, act: number, flags: number, scale: ColourScale, max: number): HTMLSpanElement {
  const s = span("saew-ex-tok", piece === "" ? "∅" : inlinePiece(piece));
  if (flags & FLAG_SPECIAL) s.classList.add("saew-special");
  if (/^\s+$/.test(piece)) s.classList.add("saew-ws"); // a whitespace-only token stays visible but faint
  const swatch = scale.swatch(act / max);
  if (swatch) {
    s.style.backgroundColor = swatch.background;
    s.style.color = swatch.text;
  }
  s.title = `${visibleWhitespace(piece)}  ${formatValue(act)}`;
  return s;
}

/** One example: value, before | token | after. `max` is the activation drawn at full colour. */
export function exampleRow(ex: Examples, n: number, scale: ColourScale, max: number): HTMLElement {
  const row = document.createElement("div");
  row.className = "saew-ex";
  const pieces = ex.tokens[n];
  const c = ex.center[n];
  const at = (i: number) => ex.acts[n * ex.width + i];
  const flag = (i: number) => ex.flags[n * ex.width + i];
  const before = span("saew-ex-before");
  const beforeLine = span("saew-ex-line");
  const after = span("saew-ex-after");
  const afterLine = span("saew-ex-line");
  const centre = span("saew-ex-center");
  pieces.forEach((piece, i) => {
    const tok = tokenSpan(piece, at(i), flag(i), scale, max);
    if (i < c) beforeLine.append(tok);
    else if (i === c) centre.append(tok);
    else afterLine.append(tok);
  });
  before.append(beforeLine);
  after.append(afterLine);
  row.append(span("saew-ex-value", formatValue(ex.value[n])), before, centre, after);
  return row;
}

export function exampleList(ex: Examples, scale: ColourScale, max: number): HTMLElement {
  const list = document.createElement("div");
  list.className = "saew-ex-list";
  if (ex.tokens.length === 0) {
    list.append(span("saew-empty", "no examples: the feature never fired on the analysed text"));
    return list;
  }
  for (let n = 0; n < ex.tokens.length; n++) list.append(exampleRow(ex, n, scale, max));
  return list;
}
