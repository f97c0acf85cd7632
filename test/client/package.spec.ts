/**
 * The client package as people install it: `npm pack` of client/ (as built by `npm run build`),
 * installed into an empty project with no network, then its CLI run against our sidecar and its
 * library imported from ESM and from CommonJS.
 *
 * Offline: the empty project gets a lockfile made from the repository's own entries for the
 * client's dependencies, so npm needs only their tarballs, which `npm ci` left in the npm cache
 * (npm install without a lockfile would also need registry metadata that npm ci never fetches).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { startBroker, type BrokerHandle } from "../support/broker";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "../..");
const CLIENT = path.join(ROOT, "client");

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** npm's environment without what `npm test` set for the repository (its prefix, its scripts). */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_registry", "npm_config_userconfig"]);
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.has(key.toLowerCase())));
}

/** package.json and package-lock.json of a project depending on the tarball alone. */
function writeProject(dir: string, tarball: string): void {
  const rootLock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const client = rootLock.packages.client;
  const spec = `file:${path.relative(dir, tarball)}`;
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  const packages: Record<string, unknown> = {
    "": { name: "empty-project", dependencies: { "flux-restful-client": spec } },
    "node_modules/flux-restful-client": { ...client, resolved: spec, integrity },
  };
  const pending = Object.keys(client.dependencies ?? {});
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    // npm nests a workspace's dependency under it when the root's tree holds another version.
    const entry = rootLock.packages[`client/${key}`] ?? rootLock.packages[key];
    packages[key] = entry;
    pending.push(...Object.keys(entry.dependencies ?? {}));
  }
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "empty-project", private: true, dependencies: { "flux-restful-client": spec } }, null, 2));
  writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ name: "empty-project", lockfileVersion: 3, requires: true, packages }, null, 2));
}

describe("the flux-restful-client package, packed and installed elsewhere", function () {
  this.timeout(180_000);
  let dir: string;
  let project: string;
  let broker: BrokerHandle;
  let sidecar: SidecarHandle;
  const version = JSON.parse(readFileSync(path.join(CLIENT, "package.json"), "utf8")).version as string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flux-restful-package-"));
    // --ignore-scripts: `npm test` has just built dist/ (prepack would build it again)
    const packed = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], { cwd: CLIENT, env: npmEnv() });
    const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: Array<{ path: string }> }];
    assert.ok(files.every((f) => /^(bin\/|dist\/.*\.(js|d\.ts)$|package\.json$|README\.md$|LICENSE$)/.test(f.path)), "only what users need is packed");
    assert.deepEqual(readFileSync(path.join(CLIENT, "LICENSE")), readFileSync(path.join(ROOT, "LICENSE")), "the package carries the project's license");
    assert.ok(files.some((f) => f.path === "LICENSE"));
    project = path.join(dir, "project");
    mkdirSync(project);
    writeProject(project, path.join(dir, filename));
    const installed = await run("npm", ["install", "--offline", "--no-audit", "--no-fund"], { cwd: project, env: npmEnv() });
    console.log(`      $ npm install --offline    # package.json: "flux-restful-client": "file:../${filename}"\n${installed.stdout.trim().replace(/^/gm, "      ")}`);
    broker = await startBroker({ size: 2 });
    sidecar = await startSidecar(loadConfig({ PORT: "0", HOST: "127.0.0.1", FLUX_URI: broker.uri, FLUX_LOG_LEVEL: "silent", FLUX_JOB_PATH: process.env.PATH }));
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => run(path.join(project, "node_modules/.bin/flux-restful"), args, { cwd: project, env: { PATH: process.env.PATH } });

  it("installs the client's few dependencies and nothing of the Pulumi program", () => {
    const installed = readdirSync(path.join(project, "node_modules")).filter((name) => !name.startsWith("."));
    assert.deepEqual(installed.sort(), ["commander", "eventsource-parser", "flux-restful-client", "jose", "lossless-json", "nanospinner", "picocolors", "undici", "ws"]);
  });

  it("runs flux-restful --version and a job on a sidecar", async () => {
    assert.equal((await cli("--version")).stdout, `${version}\n`);
    const { stdout } = await cli("--host", sidecar.url, "run", "-n", "2", "-l", "--", "echo", "hello");
    assert.deepEqual(stdout.trim().split("\n").sort(), ["0: hello", "1: hello"]);
  });

  it("imports the library from ESM and from CommonJS, and type-checks against its declarations", async () => {
    const code = (kind: string) => `const { FluxRestfulClient, formatF58 } = ${kind};
      const client = new FluxRestfulClient({ host: ${JSON.stringify(sidecar.url)} });
      client.nodes().then((nodes) => console.log(nodes.length, formatF58(30937186304n)));`;
    writeFileSync(path.join(project, "esm.mjs"), `import * as lib from "flux-restful-client";\n${code("lib")}`);
    writeFileSync(path.join(project, "cjs.cjs"), code('require("flux-restful-client")'));
    for (const file of ["esm.mjs", "cjs.cjs"]) {
      assert.equal((await run(process.execPath, [file], { cwd: project })).stdout, "2 ƒp8pAes\n", file);
    }
    // a TypeScript user's view: the declarations resolve through "exports" and type the API
    writeFileSync(path.join(project, "use.mts"), [
      'import { FluxRestfulClient, type JobInfo } from "flux-restful-client";',
      'import { main } from "flux-restful-client/cli";',
      'const client: FluxRestfulClient = new FluxRestfulClient({ host: "http://127.0.0.1:5000" });',
      "export const id: Promise<bigint> = client.jobInfo(1).then((info: JobInfo) => info.id);",
      "export const code: Promise<number> = main([\"--version\"]);",
    ].join("\n"));
    const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
    const options = ["--noEmit", "--strict", "--module", "nodenext", "--lib", "es2023,dom", "--typeRoots", path.join(ROOT, "node_modules/@types"), "--types", "node"];
    await run(process.execPath, [tsc, ...options, "use.mts"], { cwd: project });
  });
});
