/**
 * The library's file methods against our sidecar (auth on, a workspace in a temporary directory)
 * on the test broker: upload (bytes and a local file streamed from disk), list, download (to
 * memory, as a stream, to a local file), delete, a job's files, submit with files and a batch
 * script, the server's limits, and the refusal to send files to a server that would drop them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ApiError, FluxRestfulClient, FluxRestfulError, JobNotFoundError, type OutputLine } from "flux-restful-client";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { startBroker, type BrokerHandle } from "../support/broker";
import { PythonLikeServer } from "./support/python-like-server";

const AUTH = { user: "fluxuser", token: "workspace-token-1", secretKey: "workspace-secret-key-0123456789" };

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** The lines of a finished job's output, "rank: line", sorted. */
async function outputByRank(client: FluxRestfulClient, id: bigint): Promise<string[]> {
  const lines: OutputLine[] = await collect(client.outputLines(id));
  return lines.map((l) => `${l.rank}: ${l.line}`).sort();
}

describe("client library: files and the workspace (sidecar on the broker)", function () {
  this.timeout(60_000);
  let broker: BrokerHandle;
  let sidecar: SidecarHandle;
  let client: FluxRestfulClient;
  let workspace: string;
  let local: string;

  before(async () => {
    workspace = mkdtempSync(path.join(tmpdir(), "flux-workspace-"));
    local = mkdtempSync(path.join(tmpdir(), "flux-local-"));
    broker = await startBroker({ size: 4 });
    sidecar = await startSidecar(
      loadConfig({
        PORT: "0",
        HOST: "127.0.0.1",
        FLUX_URI: broker.uri,
        FLUX_LOG_LEVEL: "silent",
        FLUX_JOB_PATH: process.env.PATH,
        FLUX_WORKSPACE: workspace,
        FLUX_MAX_JOB_FILES_BYTES: String(64 * 1024),
        FLUX_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024),
        FLUX_REQUIRE_AUTH: "true",
        FLUX_USER: AUTH.user,
        FLUX_TOKEN: AUTH.token,
        FLUX_SECRET_KEY: AUTH.secretKey,
      }),
    );
    client = new FluxRestfulClient({ host: sidecar.url, ...AUTH });
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
    rmSync(workspace, { recursive: true, force: true });
    rmSync(local, { recursive: true, force: true });
  });

  it("uploads bytes and a local file streamed from disk, lists them, downloads them three ways, deletes them", async () => {
    const big = randomBytes(3 * 1024 * 1024 + 17); // several chunks of the stream
    const bigFile = path.join(local, "big.bin");
    writeFileSync(bigFile, big);
    // a streamed upload as a new client's first request: it logs in before sending the body
    const fresh = new FluxRestfulClient({ host: sidecar.url, ...AUTH });
    assert.deepEqual(await fresh.uploadFile("inputs/big.bin", { file: bigFile }, { mode: 0o600 }), { path: "inputs/big.bin", size: big.length, mode: 0o600 });
    assert.deepEqual(await client.uploadFile("inputs/hello.txt", "hello\n"), { path: "inputs/hello.txt", size: 6, mode: 0o644 });
    assert.equal(readFileSync(path.join(workspace, "inputs/big.bin")).equals(big), true, "the server stored the bytes");

    const listing = await client.listFiles("inputs");
    assert.equal(listing.path, "inputs");
    assert.equal(listing.truncated, false);
    assert.deepEqual(listing.entries.map((e) => [e.name, e.type, e.size, e.mode]), [["big.bin", "file", big.length, 0o600], ["hello.txt", "file", 6, 0o644]]);
    assert.deepEqual((await client.listFiles()).entries.map((e) => [e.name, e.type]), [["inputs", "directory"]]);

    assert.equal(Buffer.from(await client.downloadFile("inputs/hello.txt")).toString(), "hello\n");
    assert.equal(Buffer.from(await client.downloadFile("inputs/big.bin")).equals(big), true);
    await assert.rejects(client.downloadFile("inputs/big.bin", { maxBytes: 1024 }), (err: Error) => err instanceof FluxRestfulError && /larger than 1024 bytes/.test(err.message));
    const stream = await client.downloadFileStream("inputs/hello.txt");
    assert.equal(stream.size, 6);
    assert.equal(await new Response(stream.body).text(), "hello\n");
    const saved = path.join(local, "copy.bin");
    assert.equal(await client.downloadFileTo("inputs/big.bin", saved), big.length);
    assert.equal(readFileSync(saved).equals(big), true);
    assert.deepEqual(readdirSync(local).sort(), ["big.bin", "copy.bin"], "no temporary file left");

    await client.deleteFile("inputs/big.bin");
    assert.deepEqual((await client.listFiles("inputs")).entries.map((e) => e.name), ["hello.txt"]);
    await assert.rejects(client.downloadFile("inputs/big.bin"), (err: Error) => err instanceof ApiError && err.status === 404 && /no such file/.test(err.message));
  });

  it("an upload over the server's limit is its 413, also when streamed and refused before the server reads it all", async () => {
    const tooBig = path.join(local, "too-big.bin");
    writeFileSync(tooBig, Buffer.alloc(8 * 1024 * 1024 + 1));
    for (const source of [{ file: tooBig }, new Uint8Array(8 * 1024 * 1024 + 1)]) {
      await assert.rejects(client.uploadFile("big/too-big.bin", source), (err: Error) => err instanceof ApiError && err.status === 413);
    }
    const dir = path.join(workspace, "big");
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], "no file, no temporary file left");
  });

  it("reports the server's refusals as ApiError with its words, and leaves no partial download", async () => {
    await assert.rejects(client.listFiles("../etc"), (err: Error) => err instanceof ApiError && err.status === 400 && /invalid path/.test(err.message));
    await assert.rejects(client.uploadFile("/etc/passwd", "x"), (err: Error) => err instanceof ApiError && err.status === 400);
    await assert.rejects(client.deleteFile("nothing-here"), (err: Error) => err instanceof ApiError && err.status === 404);
    const target = path.join(local, "never.txt");
    await assert.rejects(client.downloadFileTo("nothing-here", target), (err: Error) => err instanceof ApiError && err.status === 404);
    assert.equal(existsSync(target), false);
  });

  it("a job without a workdir runs in its own workspace directory; jobFiles lists what it wrote on every node", async () => {
    const { id } = await client.submit({ command: ["sh", "-c", 'echo "rank $FLUX_TASK_RANK" > "out.$FLUX_TASK_RANK"'], numNodes: 3, numTasks: 3 });
    assert.equal((await client.wait(id)).returncode, 0);
    const files = await client.jobFiles(id);
    assert.equal(files.id, id);
    assert.match(files.path, /^jobs\/\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    assert.deepEqual(files.entries.map((e) => e.name), ["out.0", "out.1", "out.2"]);
    for (const rank of [0, 1, 2]) {
      assert.equal(Buffer.from(await client.downloadFile(`${files.path}/out.${rank}`)).toString(), `rank ${rank}\n`);
    }
  });

  it("jobFiles tells an unknown job from a job outside the workspace", async () => {
    await assert.rejects(client.jobFiles(123456789n), JobNotFoundError);
    const { id } = await client.submit({ command: "true", workdir: tmpdir() });
    await client.wait(id);
    await assert.rejects(client.jobFiles(id), (err: Error) => err instanceof ApiError && err.status === 404 && /no working directory in the workspace/.test(err.message));
  });

  it("sends files with a job: text, bytes (not UTF-8), a mode; every rank reads them from {{tmpdir}}", async () => {
    const binary = Uint8Array.from([0xff, 0x00, 0xfe, 0x41]);
    const { id } = await client.submit({
      command: ["sh", "-c", "cat {{tmpdir}}/data/in.txt; od -An -tx1 {{tmpdir}}/blob.bin | tr -d ' '; {{tmpdir}}/tool.sh"],
      numNodes: 3,
      numTasks: 3,
      files: { "data/in.txt": "line one\n", "blob.bin": binary, "tool.sh": { data: "#!/bin/sh\necho tool ran\n", mode: 0o755 } },
    });
    assert.equal((await client.wait(id)).returncode, 0);
    const lines = await outputByRank(client, id);
    const expected = [0, 1, 2].flatMap((r) => [`${r}: line one`, `${r}: ff00fe41`, `${r}: tool ran`]).sort();
    assert.deepEqual(lines, expected);
  });

  it("runs a batch script with its arguments over several nodes; its result file comes back", async () => {
    const script = '#!/bin/sh\necho "args: $*"\nwc -l < "$(dirname "$0")/input.txt" > result.txt\n';
    const { id } = await client.batch(script, { numNodes: 2, args: ["a b", "c"], files: { "input.txt": "1\n2\n3\n" }, name: "job.sh" });
    const info = await client.wait(id);
    assert.equal(info.returncode, 0);
    assert.equal(info.name, "job.sh");
    assert.equal(info.nnodes, 2);
    // stdout only: a real nested instance logs its rc scripts' complaints on stderr
    const stdout = (await collect(client.outputLines(id))).filter((l) => l.stream === "stdout").map((l) => l.line);
    assert.deepEqual(stdout, ["args: a b c"]);
    const files = await client.jobFiles(id);
    assert.equal(Buffer.from(await client.downloadFile(`${files.path}/result.txt`)).toString().trim(), "3");
  });

  it("refuses a batch script without #! before sending it, and passes on the server's limits (413) and name rules (422)", async () => {
    await assert.rejects(client.batch("echo hi\n"), /must start with "#!"/);
    await assert.rejects(client.submit({ command: "true", script: "#!/bin/sh\n" }), /a command or a batch script, not both/);
    await assert.rejects(
      client.submit({ command: "true", files: { "big.bin": new Uint8Array(64 * 1024 + 1) } }),
      (err: Error) => err instanceof ApiError && err.status === 413 && /limit 65536 bytes per job/.test(err.message),
    );
    await assert.rejects(
      client.submit({ command: "true", files: { "../x": "y" } }),
      (err: Error) => err instanceof ApiError && err.status === 422 && /invalid file name "\.\.\/x"/.test(err.message),
    );
  });
});

describe("client library: files with a server that does not take them", () => {
  it("refuses before sending, since the Python server would read the body as envars and drop the files", async () => {
    const server = await new PythonLikeServer().listen();
    try {
      const client = new FluxRestfulClient({ host: server.url });
      await assert.rejects(client.submit({ command: "true", files: { "a.txt": "x" } }), /does not accept files or batch scripts/);
      await assert.rejects(client.batch("#!/bin/sh\ntrue\n"), /does not accept files or batch scripts/);
      assert.deepEqual(server.requests.map((r) => r.path), ["/openapi.json"], "no submit was sent");
    } finally {
      await server.close();
    }
  });
});

