// Tokens rendered as the text reads. Token text comes from user input and model vocabularies, so it
// is only ever inserted as text nodes (never innerHTML): "<script>" in a prompt shows as "<script>".

export const FLAG_SINK = 1; // attention sink (the first token): left out of the analysis
export const FLAG_SPECIAL = 2; // a special token such as <|im_start|>

const GLYPHS: Record<string, string> = { " ": "·", "\n": "↵", "\t": "→", "\r": "␍" };

/** Whitespace made visible, for places where a token stands alone (tooltips, lists). */
export function visibleWhitespace(piece: string): string {
  return piece.replace(/[ \n\t\r]/g, (c) => GLYPHS[c]);
}

function glyph(text: string): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = "saew-ws";
  span.textContent = text;
  return span;
}

/**
 * The content of one token: ordinary characters (and spaces inside a word token) as text; newlines as
 * a faint ↵ followed by a real line break; a token made only of spaces or tabs as faint · / →, so it
 * can be seen and hovered.
 */
export function appendTokenText(parent: HTMLElement, piece: string): void {
  if (piece === "") {
    parent.append(glyph("∅"));
    return;
  }
  const blank = /^[ \t]+$/.test(piece);
  for (const part of piece.split(/(\r?\n|\t)/)) {
    if (part === "") continue;
    if (part === "\n" || part === "\r\n") {
      parent.append(glyph("↵"), document.createTextNode("\n"));
    } else if (blank) {
      parent.append(glyph(visibleWhitespace(part)));
    } else {
      parent.append(document.createTextNode(part));
    }
  }
}

/** A token span; `index` lets one delegated listener find the token under the pointer. */
export function tokenElement(piece: string, flags: number, index: number): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = "saew-tok";
  if (flags & FLAG_SINK) span.classList.add("saew-sink");
  if (flags & FLAG_SPECIAL) span.classList.add("saew-special");
  span.dataset.i = String(index);
  appendTokenText(span, piece);
  return span;
}
