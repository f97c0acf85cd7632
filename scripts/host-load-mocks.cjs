/**
 * Preloaded (node --require) into Pulumi's own Node.js program runner by scripts/host-load-time.ts:
 * answers the engine's calls with mocks instead of a resource monitor, and at the program's first
 * resource registration prints how long the process had run, then exits. Plain JavaScript, so that
 * it adds nothing to what it measures. HOST_LOAD_MANIFEST names a local copy of the operator
 * manifest to serve instead of downloading it (the program still checks its pinned sha256).
 */
"use strict";
const fs = require("node:fs");
const { performance } = require("node:perf_hooks");
const pulumi = require("@pulumi/pulumi");

const manifest = process.env.HOST_LOAD_MANIFEST;
if (manifest) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init) =>
    String(url).endsWith("/flux-operator.yaml") ? new Response(fs.readFileSync(manifest)) : realFetch(url, init);
}

pulumi.runtime.setMocks({
  newResource(args) {
    if (args.type !== "pulumi:pulumi:Stack") {
      process.stdout.write(`FIRST_RESOURCE ${JSON.stringify({ ms: Math.round(performance.now()), type: args.type, name: args.name })}\n`);
      process.exit(0);
    }
    return { id: `${args.name}-id`, state: args.inputs };
  },
  call() {
    return {};
  },
}, process.env.PULUMI_NODEJS_PROJECT, process.env.PULUMI_NODEJS_STACK, true);
