// Every view exports what anywidget documents, `export default { render }`, and no top-level `render`
// (anywidget logs a deprecation warning for a named `render` export, and may stop reading it).
import { describe, expect, it } from "vitest";

// every module in src/views/, new ones included (vite expands the glob when the test is collected)
// @ts-ignore -- import.meta.glob is vite's; the project's tsconfig has no vite types
const modules: Record<string, Record<string, unknown>> = import.meta.glob("../src/views/*.ts", { eager: true });
const views = Object.entries(modules).map(([path, mod]) => [path.replace(/^.*\/|\.ts$/g, ""), mod] as const);

describe("view modules", () => {
  it("finds the views", () => {
    expect(views.map(([name]) => name)).toEqual(expect.arrayContaining(["feature_card", "feature_map", "heatmap", "steer_panel"]));
  });

  it.each(views)("%s exports default { render } and no named render", (_name, mod) => {
    const view = mod.default as { render?: unknown } | undefined;
    expect(typeof view?.render).toBe("function");
    expect("render" in mod).toBe(false);
  });
});
