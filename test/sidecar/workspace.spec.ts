/** The workspace module on its own: path rules, modes, download names, ownership of what it creates, and symlink swaps. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ApiError } from "../../sidecar/api/errors";
import { contentDisposition } from "../../sidecar/api/routes/files";
import { brokerOwner, fsError, FILE_NAME_RULES, parseMode, PATH_RULES, pathProblem, Workspace } from "../../sidecar/api/workspace";

const NOBODY = 65534;

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

describe("sidecar: workspace", () => {
  let root: string;
  let outside: string;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "ws-unit-"));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), "ws-outside-"));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const workspace = (owner?: { uid: number; gid: number }) => new Workspace(root, { maxListEntries: 100, maxUploadBytes: 1024, owner: async () => owner });

  it("path rules: relative, at most N parts of 1-255 bytes, no . or .., no control characters or backslashes", () => {
    for (const ok of ["a", "a/b.txt", "ünïcödé/名前.txt", "..a", "a..", ".hidden", "x".repeat(255), "%2e%2e"]) {
      assert.equal(pathProblem(ok, FILE_NAME_RULES), undefined, ok);
    }
    const bad: Array<[string, RegExp]> = [
      ["..", /"\.\." part/],
      ["a/..", /"\.\." part/],
      [".", /"\." part/],
      ["/a", /absolute/],
      ["a\\..\\b", /backslash/],
      ["a\u0000", /control/],
      ["a\u007f", /control/],
      ["a\u0085", /control/],
      ["a/", /empty part/],
      ["x".repeat(256), /longer than 255 bytes/],
      ["é".repeat(128), /longer than 255 bytes/], // 256 bytes in UTF-8
      [Array(9).fill("a").join("/"), /more than 8 parts/],
      [Array(5).fill("x".repeat(250)).join("/"), /longer than 1024 bytes/],
      ["", /is empty/],
    ];
    for (const [text, why] of bad) assert.match(pathProblem(text, FILE_NAME_RULES) ?? "", why, JSON.stringify(text));
    assert.equal(pathProblem("", PATH_RULES), undefined, "the root, for listings");
  });

  it("modes: a number or an octal string of permission bits", () => {
    assert.equal(parseMode(0o644), 0o644);
    assert.equal(parseMode("0644"), 0o644);
    assert.equal(parseMode("755"), 0o755);
    for (const bad of ["0999", "rwx", "-1", "0o644", "", 1.5, -1, 0o10000, null]) assert.equal(parseMode(bad), undefined, String(bad));
  });

  it("download names are percent-encoded (RFC 8187): no quote, CR or LF reaches the header", () => {
    assert.equal(contentDisposition("a b.txt"), "attachment; filename*=UTF-8''a%20b.txt");
    assert.equal(contentDisposition('x"\r\nSet-Cookie: y'), "attachment; filename*=UTF-8''x%22%0D%0ASet-Cookie%3A%20y");
    assert.equal(contentDisposition("it's (1)*.txt"), "attachment; filename*=UTF-8''it%27s%20%281%29%2A.txt");
  });

  it("file-system errors become answers: permission 403, no space 507, a missing part 404; others stay errors", () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    const answer = (code: string) => fsError(errno(code), "a/b") as ApiError;
    assert.deepEqual([answer("EACCES").status, answer("EACCES").body], [403, { detail: "permission denied: a/b" }]);
    assert.equal(answer("EROFS").status, 403);
    assert.equal(answer("ENOSPC").status, 507);
    assert.equal(answer("ENOTDIR").status, 404);
    assert.equal(answer("ELOOP").status, 400);
    const other = errno("EIO");
    assert.equal(fsError(other, "x"), other);
  });

  it("what it creates belongs to the broker's user when it runs as root; brokerOwner reads the socket's owner", async function () {
    if (process.getuid?.() !== 0) this.skip();
    const ws = workspace({ uid: NOBODY, gid: NOBODY });
    await ws.ensureDirectory(["jobs", "one"], "jobs/one");
    await ws.write(["up", "f.txt"], "up/f.txt", [Buffer.from("x")], 0o640);
    for (const p of ["jobs", "jobs/one", "up", "up/f.txt"]) assert.equal(fs.statSync(path.join(root, p)).uid, NOBODY, p);
    const socket = path.join(root, "local-0");
    fs.writeFileSync(socket, "");
    fs.chownSync(socket, NOBODY, NOBODY);
    assert.deepEqual(await brokerOwner(socket), { uid: NOBODY, gid: NOBODY });
  });

  it("a workspace directory that does not exist yet is made on first use", async () => {
    const missing = path.join(root, "not", "yet");
    const ws = new Workspace(missing, { maxListEntries: 10, maxUploadBytes: 10, owner: async () => undefined });
    assert.equal(await ws.ensureDirectory(["jobs", "a"], "jobs/a"), `${missing}/jobs/a`);
    assert.ok(fs.statSync(path.join(missing, "jobs/a")).isDirectory());
  });

  it("a directory swapped for a symlink to the outside is refused (the walk never follows a link out)", async () => {
    const ws = workspace();
    fs.mkdirSync(path.join(root, "d"));
    fs.writeFileSync(path.join(outside, "f"), "outside");
    fs.rmdirSync(path.join(root, "d"));
    fs.symlinkSync(outside, path.join(root, "d"));
    assert.equal(await status(ws.openForReading(["d", "f"], "d/f")), 403);
    assert.equal(await status(ws.write(["d", "g"], "d/g", [Buffer.from("x")], 0o600)), 403);
    assert.equal(await status(ws.remove(["d", "f"], "d/f")), 403);
    assert.equal(await status(ws.ensureDirectory(["d", "e"], "d/e")), 403);
    assert.deepEqual(fs.readdirSync(outside), ["f"]);
    // a relative link climbing out through ".." is judged by where it lands
    fs.symlinkSync("../../..", path.join(root, "up"));
    assert.equal(await status(ws.list(["up"], "up")), 403);
  });

  it("a failed upload leaves nothing behind, and fifos or devices are never opened for reading", async () => {
    const ws = workspace();
    async function* failing() {
      yield Buffer.from("partial");
      throw new Error("client went away");
    }
    await assert.rejects(ws.write(["u.bin"], "u.bin", failing(), 0o600), /client went away/);
    assert.equal(await status(ws.write(["big.bin"], "big.bin", [Buffer.alloc(1025)], 0o600)), 413);
    assert.deepEqual(fs.readdirSync(root), []);
    fs.symlinkSync("/dev/zero", path.join(root, "zero"));
    assert.equal(await status(ws.openForReading(["zero"], "zero")), 403);
    // a FIFO inside: refused without being opened (opening it for reading would block)
    execFileSync("mkfifo", [path.join(root, "fifo")]);
    assert.equal(await status(ws.openForReading(["fifo"], "fifo")), 400);
    assert.equal((await ws.list([], "")).entries.find((e) => e.name === "fifo")?.type, "other");
  });
});
