// A colour-blind-safe sequential scale (viridis: perceptually uniform, readable in greyscale) for
// activations normalised to [0, 1], plus the matching legend. Computed here, no images or CSS assets.

type RGB = [number, number, number];

// matplotlib's viridis sampled at 17 evenly spaced points; linear interpolation between neighbours
// stays within a few units of the full 256-entry table.
const VIRIDIS = [
  "#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e", "#26828e", "#21918c",
  "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30", "#d8e219", "#fde725",
].map(hexToRgb);

function hexToRgb(hex: string): RGB {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function clamp01(t: number): number {
  return Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
}

/** Viridis at t ∈ [0, 1] (dark purple → yellow). */
export function viridis(t: number): RGB {
  const x = clamp01(t) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as RGB;
}

/** WCAG relative luminance, used to pick legible text on a coloured background. */
export function luminance([r, g, b]: RGB): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export interface Swatch {
  background: string;
  text: string;
}

const LEVELS = 64; // quantised so painting thousands of tokens reuses a few strings

/**
 * Maps a normalised activation to a swatch. Weak activations sit close to the page background: on a
 * light page the scale runs yellow → purple, on a dark page purple → yellow. Zero means no colour.
 */
export class ColourScale {
  readonly swatches: Swatch[];

  constructor(readonly dark: boolean) {
    this.swatches = Array.from({ length: LEVELS }, (_, i) => {
      const rgb = this.rgb((i + 1) / LEVELS);
      return {
        background: `rgb(${rgb.join(" ")})`,
        // black and white text have equal contrast at luminance ≈ 0.18; either side keeps WCAG AA (4.5)
        text: luminance(rgb) > 0.18 ? "#000" : "#fff",
      };
    });
  }

  /** The scale's colour at t ∈ [0, 1], oriented for the page background. */
  rgb(t: number): RGB {
    return viridis(this.dark ? clamp01(t) : 1 - clamp01(t));
  }

  /** The swatch for t, or null when t is zero (nothing to show). */
  swatch(t: number): Swatch | null {
    if (!(t > 0)) return null;
    return this.swatches[Math.min(LEVELS - 1, Math.ceil(clamp01(t) * LEVELS) - 1)];
  }

  /** A CSS gradient for the legend, built from the same function. */
  gradient(): string {
    const stops = Array.from({ length: 9 }, (_, i) => `rgb(${this.rgb(i / 8).join(" ")}) ${i * 12.5}%`);
    return `linear-gradient(to right, ${stops.join(", ")})`;
  }
}

/** A legend bar between its two end labels, e.g. "0" and "4.2 max"; `title` explains it on hover. */
export function legend(scale: ColourScale, low: string, high: string, title: string): HTMLElement {
  const box = document.createElement("div");
  box.className = "saew-legend";
  box.title = title;
  const lo = document.createElement("span");
  lo.textContent = low;
  const bar = document.createElement("span");
  bar.className = "saew-legend-bar";
  bar.style.background = scale.gradient();
  const hi = document.createElement("span");
  hi.textContent = high;
  box.append(lo, bar, hi);
  return box;
}
