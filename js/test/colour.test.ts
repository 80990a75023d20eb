import { describe, expect, it } from "vitest";
import { ColourScale, legend, luminance, viridis } from "../src/colour";

const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);

describe("viridis", () => {
  it("matches matplotlib at the ends and the middle", () => {
    expect(viridis(0)).toEqual([0x44, 0x01, 0x54]);
    expect(viridis(0.5)).toEqual([0x21, 0x91, 0x8c]);
    expect(viridis(1)).toEqual([0xfd, 0xe7, 0x25]);
    expect(viridis(-3)).toEqual(viridis(0));
    expect(viridis(NaN)).toEqual(viridis(0));
  });

  it("gets lighter monotonically, so it reads in greyscale and for colour-blind readers", () => {
    const lum = Array.from({ length: 101 }, (_, i) => luminance(viridis(i / 100)));
    for (let i = 1; i < lum.length; i++) expect(lum[i]).toBeGreaterThan(lum[i - 1]);
  });
});

describe("ColourScale", () => {
  it("leaves zero uncoloured and keeps weak activations near the page background", () => {
    for (const dark of [false, true]) {
      const scale = new ColourScale(dark);
      expect(scale.swatch(0)).toBeNull();
      expect(scale.swatch(-1)).toBeNull();
      const weak = luminance(scale.rgb(0.05));
      const strong = luminance(scale.rgb(1));
      expect(dark ? weak < strong : weak > strong).toBe(true);
    }
  });

  it("picks a text colour with WCAG AA contrast on every swatch", () => {
    for (const dark of [false, true]) {
      for (const s of new ColourScale(dark).swatches) {
        const bg = luminance(s.background.match(/\d+/g)!.map(Number) as [number, number, number]);
        expect(contrast(bg, s.text === "#fff" ? 1 : 0)).toBeGreaterThanOrEqual(4.5);
      }
    }
  });

  it("saturates above the maximum", () => {
    const scale = new ColourScale(false);
    expect(scale.swatch(7)).toBe(scale.swatch(1));
  });

  it("draws a legend with its labels as text", () => {
    const box = legend(new ColourScale(false), "0", "4.2 max", "feature #3's activation");
    expect(box.textContent).toBe("04.2 max");
    expect(box.title).toBe("feature #3's activation");
    expect(box.querySelector<HTMLElement>(".saew-legend-bar")!.style.background).toContain("linear-gradient");
  });
});
