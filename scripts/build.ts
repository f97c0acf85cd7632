// `npm run build`: the web UI assets first (they are compiled into the sidecar), then the sidecar
// as ONE minified CommonJS file, dist/sidecar.js, that runs with no node_modules beside it.
import { statSync } from "node:fs";
import * as path from "node:path";
import { build } from "esbuild";
import { buildWebAssets } from "./build-web";

export const SIDECAR_BUNDLE = path.join(__dirname, "..", "dist", "sidecar.js");
export const BUNDLE_LIMIT_BYTES = 700 * 1024;

export async function buildSidecar(): Promise<number> {
  await buildWebAssets();
  await build({
    entryPoints: [path.join(__dirname, "..", "sidecar", "main.ts")],
    outfile: SIDECAR_BUNDLE,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  const size = statSync(SIDECAR_BUNDLE).size;
  if (size > BUNDLE_LIMIT_BYTES) {
    throw new Error(`dist/sidecar.js is ${size} bytes, over the ${BUNDLE_LIMIT_BYTES}-byte limit`);
  }
  return size;
}

if (require.main === module) {
  buildSidecar().then(
    (size) => console.log(`wrote dist/sidecar.js (${(size / 1024).toFixed(1)} KiB)`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
