// Light or dark page? JupyterLab marks its theme on <body data-jp-theme-light>; elsewhere (VS Code,
// Colab, exported HTML) the background colour decides, then the OS preference.
import { luminance } from "./colour";

function parseRgb(colour: string): [number, number, number] | null {
  const m = colour.match(/rgba?\((\d+)[,\s]+(\d+)[,\s]+(\d+)(?:[,\s/]+([\d.]+))?/);
  if (!m || (m[4] !== undefined && Number(m[4]) === 0)) return null; // transparent says nothing
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function isDark(el: HTMLElement): boolean {
  const flag = document.body?.dataset.jpThemeLight;
  if (flag === "true" || flag === "false") return flag === "false";
  for (let node: HTMLElement | null = el; node; node = node.parentElement) {
    const rgb = parseRgb(getComputedStyle(node).backgroundColor);
    if (rgb) return luminance(rgb) < 0.2;
  }
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
}

/** Calls `onChange` when the JupyterLab theme or the OS colour scheme switches (VS Code, Colab and plain pages
 * follow the latter); returns the function that stops watching. */
export function watchTheme(onChange: () => void): () => void {
  const stops: (() => void)[] = [];
  if (document.body && typeof MutationObserver !== "undefined") {
    const observer = new MutationObserver(onChange);
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
    stops.push(() => observer.disconnect());
  }
  const scheme = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  if (scheme && typeof scheme.addEventListener === "function") {
    scheme.addEventListener("change", onChange);
    stops.push(() => scheme.removeEventListener("change", onChange));
  }
  return () => stops.forEach((stop) => stop());
}
