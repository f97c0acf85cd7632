/**
 * The CLI's downloads never write outside their destination, whatever the server says: names in
 * a job's listing that are not plain file names ("..", "../x", "a/b", backslashes, control
 * characters) are refused, a content-disposition naming another place is ignored, and a symlink
 * planted where a download lands is replaced, not followed. Transfers fail, rather than hang,
 * when the server goes silent. Also the --get glob language.
 */
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConnectionError, FluxRestfulClient } from "flux-restful-client";
import { globToRegExp, isPlainName, parseGetPattern } from "../../client/src/cli/files";
import { HONEST_NAME, HostileFilesServer } from "./support/hostile-files-server";
import { runCli } from "./support/run-cli";

/** Every path under `dir`, relative, sorted (symlinks not followed). */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("flux-restful downloads against a hostile server", () => {
  let server: HostileFilesServer;
  let root: string;
  beforeEach(async () => {
    server = await new HostileFilesServer().listen();
    root = mkdtempSync(path.join(tmpdir(), "flux-restful-hostile-"));
  });
  afterEach(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("run --get saves only the plain names of the listing, inside --get-dir, and says which it refused", async () => {
    const dest = path.join(root, "dest");
    // patterns that match the hostile names where a glob can: "." and ".." (dot globs), "*" and "?*"
    const result = await runCli(["run", "--host", server.url, "--get", "*", "--get", ".*", "--get", "..", "--get-dir", dest, "--", "true"]);
    assert.deepEqual(tree(root), ["dest", `dest/${HONEST_NAME}`]);
    assert.equal(readFileSync(path.join(dest, HONEST_NAME), "utf8"), `content of jobs/20261203T000000Z-0badf00d/${HONEST_NAME}\n`);
    assert.deepEqual(server.downloads, [`jobs/20261203T000000Z-0badf00d/${HONEST_NAME}`], "nothing else was even fetched");
    assert.equal(result.code, 1, "refused names fail the command");
    assert.match(result.stderr, /not saving "\.\.": the server listed a name that is not a plain file name/);
    assert.match(result.stderr, /not saving "\.": /);
    assert.match(result.stderr, new RegExp(`saved jobs/20261203T000000Z-0badf00d/${HONEST_NAME} as ${dest}/${HONEST_NAME} \\(\\d+ bytes\\)`));
  });

  it("a symlink planted at the download's name is replaced, and its target left alone", async () => {
    const dest = path.join(root, "dest");
    mkdirSync(dest);
    const outside = path.join(root, "outside.txt");
    writeFileSync(outside, "precious\n");
    symlinkSync(outside, path.join(dest, HONEST_NAME));
    const result = await runCli(["files", "get", "--host", server.url, `jobs/x/${HONEST_NAME}`, dest]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(outside, "utf8"), "precious\n");
    assert.ok(lstatSync(path.join(dest, HONEST_NAME)).isFile(), "the symlink was replaced by the file");
    assert.equal(readFileSync(path.join(dest, HONEST_NAME), "utf8"), `content of jobs/x/${HONEST_NAME}\n`);
    assert.deepEqual(tree(root), ["dest", `dest/${HONEST_NAME}`, "outside.txt"], "no temporary file left, nothing from content-disposition");
  });

  it("files get names the local file after the requested path, never the server's content-disposition", async () => {
    const dest = path.join(root, "in", "here") + "/";
    const result = await runCli(["files", "get", "--host", server.url, "jobs/x/data.bin", dest]);
    // a DEST ending in "/" that does not exist: the parent must exist, as for cp
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `flux-restful: cannot write ${path.join(dest, "data.bin")}: no directory ${path.join(root, "in", "here")}\n`);
    assert.deepEqual(tree(root), []);
    mkdirSync(dest, { recursive: true });
    const ok = await runCli(["files", "get", "--host", server.url, "jobs/x/data.bin", dest, "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { path: "jobs/x/data.bin", file: path.join(dest, "data.bin"), size: 27 });
    assert.deepEqual(tree(root), ["in", "in/here", "in/here/data.bin"]);
  });

  it("files get refuses a path whose last component is not a file name", async () => {
    for (const bad of ["jobs/x/..", "jobs/.", "..", ""]) {
      const result = await runCli(["files", "get", "--host", server.url, bad, root]);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /does not name a file/);
    }
    assert.deepEqual(server.downloads, []);
    assert.deepEqual(tree(root), []);
  });
});

describe("client library: transfers from a server that goes silent", () => {
  let server: Server;
  let url: string;
  let root: string;
  const sockets = new Set<import("node:net").Socket>();
  before(async () => {
    // a download that stops after its first bytes; an upload that is never read nor answered
    server = createServer((req, res) => {
      if (req.method === "GET") {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "1000" });
        res.write("first bytes");
      } else if (req.url?.includes("slow")) {
        // takes the bytes slowly, a pause after every chunk, then answers as the sidecar does
        let size = 0;
        req.on("data", (chunk: Buffer) => {
          size += chunk.length;
          req.pause();
          setTimeout(() => req.resume(), 3);
        });
        req.on("end", () => res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ path: "slow.bin", size, mode: 420 })));
      } else req.pause();
    });
    server.on("connection", (socket) => (sockets.add(socket), socket.on("close", () => sockets.delete(socket))));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    root = mkdtempSync(path.join(tmpdir(), "flux-restful-silent-"));
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  it("a download fails after the request timeout without bytes, and leaves no file", async () => {
    const client = new FluxRestfulClient({ host: url, timeoutMs: 300, retries: 0 });
    const started = Date.now();
    await assert.rejects(client.downloadFileTo("big.bin", path.join(root, "big.bin")), (err: Error) => err instanceof ConnectionError && /sent nothing for 0.3 s while sending big.bin/.test(err.message));
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(tree(root), []);
  });

  it("an upload fails when the server neither takes the bytes nor answers", async () => {
    const client = new FluxRestfulClient({ host: url, timeoutMs: 300, retries: 0 });
    const bytes = new Uint8Array(16 * 1024 * 1024); // more than the socket buffers take
    await assert.rejects(client.uploadFile("big.bin", bytes), (err: Error) => err instanceof ConnectionError && /took more than 0.3 s to take or answer the upload of big.bin/.test(err.message));
  });

  it("a slow upload goes on as long as bytes move, well past the request timeout", async () => {
    // Bytes in the sockets' buffers (a few MiB on loopback) count as taken: the server must drain
    // them within the timeout, which it does many times over; the whole upload takes longer.
    const client = new FluxRestfulClient({ host: url, timeoutMs: 1000, retries: 0 });
    const size = 64 * 1024 * 1024;
    const started = Date.now();
    assert.deepEqual(await client.uploadFile("slow.bin", new Uint8Array(size)), { path: "slow.bin", size, mode: 420 });
    assert.ok(Date.now() - started > 1000, `took ${Date.now() - started} ms: longer than the timeout`);
  });
});

describe("flux-restful --get patterns", () => {
  it("match one path component like sh: * and ? stop at / and skip dotfiles, classes work", () => {
    const matches = (glob: string, name: string) => globToRegExp(glob).test(name);
    assert.ok(matches("*.out", "a.out"));
    assert.ok(!matches("*.out", "a.out.bak"));
    assert.ok(!matches("*", ".hidden"));
    assert.ok(matches(".*", ".hidden"));
    assert.ok(!matches("*", "a/b"));
    assert.ok(matches("out.?", "out.3"));
    assert.ok(!matches("out.?", "out.12"));
    assert.ok(matches("rank[0-3].txt", "rank2.txt"));
    assert.ok(!matches("rank[!0-3].txt", "rank2.txt"));
    assert.ok(matches("rank[!0-3].txt", "rank7.txt"));
    assert.ok(matches("a+b(1).txt", "a+b(1).txt"), "regular expression characters are literal");
    assert.ok(!matches("a.txt", "abtxt"));
  });

  it("take a literal relative directory and refuse others", () => {
    assert.deepEqual({ ...parseGetPattern("results/*.dat"), match: undefined }, { dir: "results", match: undefined, text: "results/*.dat" });
    for (const bad of ["/etc/*", "../*", "a/../b", "*/x", "dir/", "a//b"]) assert.throws(() => parseGetPattern(bad), /expected a glob/, bad);
  });

  it("plain names exclude what could leave a directory", () => {
    for (const name of ["result.txt", ".hidden", "..x", "ƒ58 ünïcode"]) assert.ok(isPlainName(name), name);
    for (const name of ["", ".", "..", "a/b", "a\\b", "nul\0", "tab\t", "x".repeat(256)]) assert.ok(!isPlainName(name), JSON.stringify(name));
  });
});
