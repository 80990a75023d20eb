import { describe, expect, it } from "vitest";
import { FLAG_SINK, FLAG_SPECIAL, tokenElement, visibleWhitespace } from "../src/tokens";

describe("tokenElement", () => {
  it("renders markup in token text as text, creating no elements", () => {
    for (const piece of ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "&amp; <b>"]) {
      const span = tokenElement(piece, 0, 0);
      expect(span.textContent).toBe(piece);
      expect(span.children.length).toBe(0);
    }
  });

  it("keeps the text readable: spaces inside words stay spaces, newlines break the line", () => {
    expect(tokenElement(" world", 0, 1).textContent).toBe(" world");
    const newline = tokenElement("\n", 0, 2);
    expect(newline.textContent).toBe("↵\n");
    expect(newline.querySelector(".saew-ws")!.textContent).toBe("↵");
    expect(tokenElement("   ", 0, 3).textContent).toBe("···");
    expect(tokenElement("", 0, 4).textContent).toBe("∅");
  });

  it("marks the attention sink and special tokens", () => {
    const span = tokenElement("<|im_start|>", FLAG_SINK | FLAG_SPECIAL, 0);
    expect(span.classList.contains("saew-sink")).toBe(true);
    expect(span.classList.contains("saew-special")).toBe(true);
    expect(span.dataset.i).toBe("0");
  });
});

describe("visibleWhitespace", () => {
  it("shows spaces, newlines and tabs", () => {
    expect(visibleWhitespace(" a\tb\n")).toBe("·a→b↵");
  });
});
