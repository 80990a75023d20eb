// Bundles every view in src/views/ into ../saewidgets/static/<view>.js: one self-contained ES module
// per anywidget class, nothing fetched from a CDN at run time; and src/export_page.ts, the script of a saved
// HTML page (saewidgets/widgets/export.py), into ../saewidgets/static/export_page.js.
// Usage: node build.mjs [--watch]   (--watch rebuilds on every save; re-run the notebook cell to see it)
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const views = readdirSync(here("src/views")).filter((f) => f.endsWith(".ts"));
const watch = process.argv.includes("--watch");

const options = {
  // named entries: every bundle lands flat in static/, whatever folder its source is in
  entryPoints: Object.fromEntries([
    ...views.map((f) => [f.replace(/\.ts$/, ""), here(`src/views/${f}`)]),
    ["export_page", here("src/export_page.ts")],
  ]),
  outdir: here("../saewidgets/static"),
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  logLevel: "info",
};

if (watch) {
  await (await esbuild.context(options)).watch();
} else {
  await esbuild.build(options);
}
