// Bundles the dashboard: src/main.ts (with its CSS and ECharts) into content-hashed files under
// assets/, and index.html that names them. Usage: node build.mjs [OUTDIR] (default dist/).
// Everything is bundled: the page makes no request outside the server it came from.

import { build } from "esbuild";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(process.argv[2] ?? path.join(here, "dist"));

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/main.ts"],
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: false,
  charset: "ascii",
  legalComments: "eof",
  outdir,
  entryNames: "assets/app-[hash]",
  assetNames: "assets/[name]-[hash]",
  metafile: true,
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((f) => path.relative(outdir, path.resolve(here, f)));
const js = outputs.find((f) => f.endsWith(".js"));
const css = outputs.find((f) => f.endsWith(".css"));
if (!js || !css) throw new Error(`expected a .js and a .css output, got ${outputs.join(", ")}`);

const html = (await readFile(path.join(here, "src/index.html"), "utf8"))
  .replace("%APP_JS%", js.split(path.sep).join("/"))
  .replace("%APP_CSS%", css.split(path.sep).join("/"));
await writeFile(path.join(outdir, "index.html"), html);
await copyFile(path.join(here, "src/favicon.svg"), path.join(outdir, "favicon.svg"));

for (const f of [...outputs, "index.html", "favicon.svg"].sort()) {
  const size = (await readFile(path.join(outdir, f))).length;
  console.log(`  ${f}  ${(size / 1024).toFixed(1)} KiB`);
}
