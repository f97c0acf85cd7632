// `npm run build`: the web UI assets first (they are compiled into the sidecar), then the sidecar
// as ONE minified CommonJS file, dist/sidecar.js, that runs with no node_modules beside it.
import { statSync } from "node:fs";
import * as path from "node:path";
import { build, type Plugin } from "esbuild";
import { buildWebAssets } from "./build-web";

export const SIDECAR_BUNDLE = path.join(__dirname, "..", "dist", "sidecar.js");
export const BUNDLE_LIMIT_BYTES = 700 * 1024;

/**
 * Parts of dependencies the sidecar never calls, left out of the bundle because loading them costs
 * memory in every process: prom-client's Pushgateway loads node:https (TLS and OpenSSL's contexts,
 * about 3 MiB of RSS) and node:zlib, pino's transports a worker-thread stream. Each is replaced by
 * a module that throws if it is ever used, so a change that starts using one fails loudly.
 */
const UNUSED_MODULES: Array<{ pkg: string; request: RegExp; what: string }> = [
  { pkg: "prom-client", request: /^\.\/lib\/pushgateway$/, what: "prom-client's Pushgateway" },
  { pkg: "pino", request: /^\.\/(lib\/)?transport$/, what: "pino's transports" },
];

const leaveOutUnused: Plugin = {
  name: "leave-out-unused",
  setup(b) {
    for (const { pkg, request, what } of UNUSED_MODULES) {
      b.onResolve({ filter: request }, (args) =>
        args.importer.includes(`${path.sep}node_modules${path.sep}${pkg}${path.sep}`) ? { path: what, namespace: "unused" } : undefined,
      );
    }
    b.onLoad({ filter: /.*/, namespace: "unused" }, (args) => ({
      contents: `module.exports = function unused() { throw new Error(${JSON.stringify(`left out of the sidecar bundle (scripts/build.ts): ${args.path}`)}); };`,
      loader: "js",
    }));
  },
};

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
    plugins: [leaveOutUnused],
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
