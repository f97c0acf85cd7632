/**
 * Data in and out: files and batch scripts sent with a submit (RFC 37 files, extracted by every
 * node's job shell into FLUX_JOB_TMPDIR), the workspace as the jobs' default working directory,
 * and the file routes (list, download, upload, delete, a job's files) with their confinement,
 * limits and headers. On the test broker by default; inside `flux start` with
 * FLUX_CONTRACT_REAL=1 (npm run test:flux -- files) on the real one, where the batch script runs
 * in a real nested instance.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FluxClient } from "../../sidecar/flux";
import { fluxExecutable } from "../support/broker";
import { accessToken, apiFor, type Api, type Broker, type Sidecar, startTestSidecar, waitInactive } from "./support";
import { startBroker } from "../support/broker";

const JOB_TIMEOUT_MS = 60_000;

async function json(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, `${res.url}: ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

async function submitJson(api: Api, body: Record<string, unknown>): Promise<string> {
  const res = await api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  const id = /"id":(\d+)/.exec(text)?.[1];
  assert.ok(res.status === 200 && id, `submit: ${res.status} ${text}`);
  return id;
}

async function outputText(api: Api, id: string): Promise<string> {
  const body = await json(await api(`/v1/jobs/${id}/output`), 200);
  return ((body.Output as string[] | undefined) ?? []).join("");
}

const files = (p: string) => `/v1/files?path=${encodeURIComponent(p)}`;
const content = (p: string) => `/v1/files/content?path=${encodeURIComponent(p)}`;

describe("files: data in and out of jobs, and the workspace routes", function () {
  this.timeout(JOB_TIMEOUT_MS * 2);
  let broker: Broker;
  let sidecar: Sidecar;
  let api: Api;
  let workspace: string;
  let outside: string;
  const real = () => broker.kind === "real";

  before(async () => {
    broker = await startBroker({ size: 4 });
    console.log(`      files: on ${real() ? `a real broker, flux-core ${broker.version}` : "the test broker (real-broker runs: npm run test:flux -- files, needs flux on PATH)"}`);
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), "flux-ws-"));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), "flux-outside-"));
    fs.writeFileSync(path.join(outside, "secret.txt"), "outside\n");
    // A batch job's nested instance runs `flux broker`: the real flux must be on the jobs' PATH.
    const flux = fluxExecutable();
    const jobPath = [...(flux && real() ? [path.dirname(flux)] : []), "/usr/local/bin", "/usr/bin", "/bin"].join(":");
    sidecar = await startTestSidecar(broker, {
      FLUX_WORKSPACE: workspace,
      FLUX_MAX_UPLOAD_BYTES: String(64 * 1024),
      FLUX_MAX_JOB_FILES_BYTES: String(8 * 1024),
      FLUX_MAX_JOB_FILES: "6",
      FLUX_MAX_LIST_ENTRIES: "5",
      FLUX_JOB_PATH: jobPath,
    });
    api = apiFor(sidecar);
  });

  after(async () => {
    await sidecar?.close();
    await broker?.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  describe("files sent with a job", () => {
    it("every node of a multi-node job reads its input from its own FLUX_JOB_TMPDIR ({{tmpdir}})", async () => {
      const nodes = broker.size;
      const id = await submitJson(api, {
        command: ["sh", "-c", 'echo "rank $FLUX_TASK_RANK: $(cat {{tmpdir}}/data/in.txt) $(wc -c < {{tmpdir}}/blob.bin) $({{tmpdir}}/run.sh) tmp=$FLUX_JOB_TMPDIR"'],
        num_tasks: nodes,
        num_nodes: nodes,
        files: {
          "data/in.txt": "hello input",
          "blob.bin": { data: Buffer.from([0, 1, 2, 255, 254]).toString("base64"), encoding: "base64" },
          "run.sh": { data: "#!/bin/sh\necho ran-script\n", mode: "0755" },
        },
      });
      const info = await waitInactive(api, id, JOB_TIMEOUT_MS);
      const out = await outputText(api, id);
      assert.equal(info.returncode, 0, out);
      const lines = out.trim().split("\n").sort();
      assert.equal(lines.length, nodes, out);
      const tmpdirs = new Set<string>();
      for (let rank = 0; rank < nodes; rank++) {
        const line = lines.find((l) => l.startsWith(`rank ${rank}: `));
        assert.ok(line, `no line from rank ${rank}: ${out}`);
        assert.match(line, /^rank \d+: hello input 5 ran-script tmp=\S+$/);
        tmpdirs.add(line.split("tmp=")[1]);
      }
      assert.equal(tmpdirs.size, nodes, `one FLUX_JOB_TMPDIR per node: ${[...tmpdirs].join(" ")}`);
      // the shells remove their directories when the job ends
      for (const dir of tmpdirs) assert.equal(fs.existsSync(dir), false, dir);
    });

    it("the shell renders {{id}} forms and {{name}} in the command, per job", async () => {
      const id = await submitJson(api, { command: ["echo", "{{id.dec}}", "{{jobid.hex}}", "{{name}}"], name: "tpl" });
      await waitInactive(api, id, JOB_TIMEOUT_MS);
      assert.equal((await outputText(api, id)).trim(), `${id} 0x${BigInt(id).toString(16)} tpl`);
    });

    it("a tag the shell cannot render stays as written; 0.55 logs it, later releases only a bad id encoding", async () => {
      const id = await submitJson(api, { command: ["echo", "a{{nosuch}}b", "{{jobid.bogus}}"], num_tasks: 2, num_nodes: 2 });
      await waitInactive(api, id, JOB_TIMEOUT_MS);
      assert.deepEqual((await outputText(api, id)).trim().split("\n"), ["a{{nosuch}}b {{jobid.bogus}}", "a{{nosuch}}b {{jobid.bogus}}"]);
      const client = new FluxClient({ uri: broker.uri });
      try {
        const logs: string[] = [];
        for await (const e of client.eventlog(BigInt(id), { path: "guest.output" })) {
          if (e.name === "log") logs.push(`${String(e.context!.rank)} ${String(e.context!.message)} ${String(e.context!.file)}`);
        }
        const old = broker.version.startsWith("0.55.");
        const expected = [0, 1].flatMap((rank) => [
          ...(old ? [`${rank} Unknown mustache tag 'nosuch' shell.c`] : []),
          `${rank} Invalid jobid encoding 'id.bogus' specified shell.c`,
        ]);
        assert.deepEqual(logs.sort(), expected.sort());
      } finally {
        await client.close();
      }
    });

    it("a job without a workdir runs in a new directory of the workspace; a relative workdir stays inside it", async () => {
      const id = await submitJson(api, { command: ["sh", "-c", "pwd; echo made > made.txt"] });
      await waitInactive(api, id, JOB_TIMEOUT_MS);
      const cwd = (await outputText(api, id)).trim();
      assert.match(cwd, new RegExp(`^${fs.realpathSync(workspace)}/jobs/\\d{8}T\\d{6}Z-[0-9a-f]{8}$`));
      assert.equal(fs.readFileSync(path.join(cwd, "made.txt"), "utf8"), "made\n");
      const listing = await json(await api(`/v1/jobs/${id}/files`), 200);
      assert.equal(listing.path, path.relative(fs.realpathSync(workspace), cwd));
      assert.deepEqual((listing.entries as Array<{ name: string }>).map((e) => e.name), ["made.txt"]);

      const rel = await submitJson(api, { command: ["pwd"], workdir: "runs/one" });
      await waitInactive(api, rel, JOB_TIMEOUT_MS);
      assert.equal((await outputText(api, rel)).trim(), path.join(fs.realpathSync(workspace), "runs/one"));
      const bad = await json(await api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ command: "pwd", workdir: "../up" }) }), 400);
      assert.match(String(bad.detail), /invalid workdir "\.\.\/up": it has a "\.\." part/);
      // an absolute workdir passes through unchanged (the Python API's meaning)
      const abs = await submitJson(api, { command: ["pwd"], workdir: "/tmp" });
      await waitInactive(api, abs, JOB_TIMEOUT_MS);
      assert.equal((await outputText(api, abs)).trim(), fs.realpathSync("/tmp"));
      await json(await api(`/v1/jobs/${abs}/files`), 404);
    });

    it("a workdir that does not exist: each node's shell logs it and goes to /tmp, as shell.c does", async () => {
      const id = await submitJson(api, { command: ["pwd"], workdir: "/nonexistent-workdir", num_tasks: 2, num_nodes: 2 });
      await waitInactive(api, id, JOB_TIMEOUT_MS);
      assert.deepEqual((await outputText(api, id)).trim().split("\n"), [fs.realpathSync("/tmp"), fs.realpathSync("/tmp")]);
      const client = new FluxClient({ uri: broker.uri });
      try {
        const logs: Array<Record<string, unknown>> = [];
        for await (const e of client.eventlog(BigInt(id), { path: "guest.output" })) if (e.name === "log") logs.push(e.context!);
        assert.deepEqual(logs.map((l) => l.rank).sort(), [0, 1]);
        for (const log of logs) {
          assert.match(String(log.message), /^host \S+: Could not change dir to \/nonexistent-workdir: No such file or directory\. Going to \/tmp instead$/);
          assert.equal(log.level, 3);
          assert.equal(log.file, "shell.c");
        }
      } finally {
        await client.close();
      }
    });

    it("a batch script runs the way flux batch runs it, and its result file is downloaded", async () => {
      // On a real broker the script is the initial program of a nested instance of 2 nodes.
      const script = real()
        ? '#!/bin/sh\necho "result for $1 $2" > result.txt\nflux getattr size > size.txt\necho batch-done\n'
        : '#!/bin/sh\necho "result for $1 $2" > result.txt\necho batch-done\n';
      const id = await submitJson(api, { script, script_args: ["a", "b c"], num_nodes: 2, files: { "in.txt": "x" } });
      const info = await waitInactive(api, id, JOB_TIMEOUT_MS);
      const out = await outputText(api, id);
      assert.equal(info.returncode, 0, out);
      assert.match(out, /batch-done/);
      assert.equal(info.name, "batch");
      assert.equal(info.nnodes, 2);
      const listing = await json(await api(`/v1/jobs/${id}/files`), 200);
      const names = (listing.entries as Array<{ name: string; type: string; size: number }>).map((e) => e.name);
      assert.ok(names.includes("result.txt"), names.join(" "));
      const res = await api(content(`${String(listing.path)}/result.txt`));
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "result for a b c\n");
      if (real()) {
        const size = await api(content(`${String(listing.path)}/size.txt`));
        assert.equal((await size.text()).trim(), "2", "the nested instance spans the job's 2 nodes");
      }
    });

    it("multipart: a script part, file parts and file_modes", async () => {
      const form = new FormData();
      // A batch script finds its files beside itself: the nested instance runs it without the
      // enclosing job's FLUX_JOB_TMPDIR (broker/runat.c), and only argv gets {{tmpdir}} rendered.
      form.set("script", new Blob(['#!/bin/sh\nhere=$(dirname "$0")\necho "tmpdir=[$FLUX_JOB_TMPDIR]"\ncat "$here/notes.txt"\n"$here/tool.sh"\n']), "job.sh");
      form.append("files", new Blob(["from a form\n"]), "notes.txt");
      form.append("files", new Blob(["#!/bin/sh\necho tool-ran\n"]), "tool.sh");
      form.set("file_modes", JSON.stringify({ "tool.sh": "0755" }));
      form.set("name", "job.sh");
      const res = await api("/v1/jobs/submit", { method: "POST", body: form });
      const id = String((await json(res, 200)).id);
      const info = await waitInactive(api, id, JOB_TIMEOUT_MS);
      const out = await outputText(api, id);
      assert.equal(info.name, "job.sh");
      assert.match(out, /from a form\n/);
      assert.match(out, /tool-ran/);
      assert.match(out, /tmpdir=\[\]/);
    });

    it("multipart: binary file parts travel as base64 and arrive byte for byte", async () => {
      const bytes = Buffer.from([0, 255, 1, 0x80, 10]);
      const form = new FormData();
      form.set("command", "od -An -tx1 {{tmpdir}}/bin/data.bin");
      form.append("files", new Blob([bytes]), "bin/data.bin");
      const id = String((await json(await api("/v1/jobs/submit", { method: "POST", body: form }), 200)).id);
      await waitInactive(api, id, JOB_TIMEOUT_MS);
      assert.equal((await outputText(api, id)).trim().split(/\s+/).join(" "), "00 ff 01 80 0a");
    });

    it("a multipart submit with thousands of tiny parts is a 413 found before the form is parsed, and the server stays free", async () => {
      // 5,000 empty file parts (about 0.6 MB, within this server's body limit): parsed and collected, such parts held the only thread for
      // seconds (the collection grew quadratically: 100,000 parts took minutes).
      const form = new FormData();
      form.set("command", "true");
      for (let i = 0; i < 5_000; i++) form.append("files", new Blob([]), `f${i}`);
      const [refused, health] = await Promise.all([
        api("/v1/jobs/submit", { method: "POST", body: form }),
        api("/healthz"),
      ]);
      assert.equal((await json(refused, 413)).detail, "Too many form fields (limit 38)");
      assert.equal(health.status, 200);
    });

    it("files at the byte limit are taken; past it, or past the count, a 413 names the limit", async () => {
      const atLimit = "x".repeat(8 * 1024);
      const id = await submitJson(api, { command: ["wc", "-c", "{{tmpdir}}/big.txt"], files: { "big.txt": atLimit } });
      await waitInactive(api, id, JOB_TIMEOUT_MS);
      assert.match(await outputText(api, id), /^8192 /);
      const post = (body: unknown) => api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      let err = await json(await post({ command: "true", files: { "big.txt": `${atLimit}y` } }), 413);
      assert.equal(err.detail, "files too large: 8193 bytes (limit 8192 bytes per job, FLUX_MAX_JOB_FILES_BYTES)");
      // base64 counts its decoded bytes
      await json(await post({ command: "true", files: { "b.bin": { data: Buffer.alloc(8193).toString("base64"), encoding: "base64" } } }), 413);
      const seven = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`f${i}`, "x"]));
      err = await json(await post({ command: "true", files: seven }), 413);
      assert.equal(err.detail, "too many files: 7 (limit 6 per job, FLUX_MAX_JOB_FILES)");
      // the script counts as a file
      err = await json(await post({ script: "#!/bin/sh\n", files: Object.fromEntries(Object.entries(seven).slice(0, 6)) }), 413);
      assert.match(String(err.detail), /too many files: 7/);
    });

    it("hostile file names, modes and encodings are 422s naming the file", async () => {
      const post = (body: unknown) => api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const cases: Array<[name: string, why: RegExp]> = [
        ["../escape", /has a "\.\." part/],
        ["a/../../b", /has a "\.\." part/],
        ["/etc/passwd", /is absolute/],
        ["./x", /has a "\." part/],
        ["a//b", /empty part/],
        ["dir/", /empty part/],
        ["", /is empty/],
        ["a\\b", /backslash/],
        ["nul\u0000byte", /control character/],
        ["line\nbreak", /control character/],
        ["esc\u001b[31m", /control character/],
        [`${"x".repeat(256)}`, /longer than 255 bytes/],
        [Array.from({ length: 9 }, () => "d").join("/"), /more than 8 parts/],
      ];
      for (const [name, why] of cases) {
        const body = await json(await post({ command: "true", files: { [name]: "x" } }), 422);
        const detail = (body.detail as Array<{ loc: string[]; msg: string }>)[0];
        assert.deepEqual(detail.loc, ["body", `files.${name}`], JSON.stringify(name));
        assert.match(detail.msg, why, JSON.stringify(name));
        assert.ok(detail.msg.includes(JSON.stringify(name)), detail.msg);
      }
      const bad = async (files: unknown, why: RegExp) => {
        const body = await json(await post({ command: "true", files }), 422);
        assert.match((body.detail as Array<{ msg: string }>)[0].msg, why);
      };
      await bad({ x: { data: "x", mode: "0999" } }, /mode must be permission bits/);
      await bad({ x: { data: "x", mode: 0o4755 } }, /mode must be permission bits/);
      await bad({ x: { data: "x", encoding: "latin-1" } }, /encoding must be/);
      await bad({ x: { data: "not base64!", encoding: "base64" } }, /not valid base64/);
      await bad({ x: 42 }, /must be a string or an object/);
      // "script" is an ordinary name outside a batch job
      await json(await post({ command: "true", files: { script: "x" } }), 200);
      let body = await json(await post({ script: "#!/bin/sh\n", files: { script: "x" } }), 422);
      assert.match(JSON.stringify(body), /reserved for the batch script/);
      body = await json(await post({ script: "echo no shebang" }), 422);
      assert.match(JSON.stringify(body), /does not appear to start with '#!'/);
      body = await json(await post({ script: "#!/bin/sh\n", command: "true" }), 422);
      assert.match(JSON.stringify(body), /either a command or a script/);
    });
  });

  describe("workspace routes", () => {
    it("upload, list, download and delete a file; parents are made; the mode is kept", async () => {
      const bytes = Buffer.from([0, 1, 2, 3, 255, 10, 13]);
      const put = await json(await api(`${content("up/nested/data.bin")}&mode=0640`, { method: "PUT", body: bytes }), 201);
      assert.deepEqual(put, { path: "up/nested/data.bin", size: bytes.length, mode: 0o640 });
      assert.equal(fs.statSync(path.join(workspace, "up/nested/data.bin")).mode & 0o777, 0o640);
      const listing = await json(await api(files("up/nested")), 200);
      assert.equal(listing.truncated, false);
      const [entry] = listing.entries as Array<Record<string, unknown>>;
      assert.equal(entry.name, "data.bin");
      assert.equal(entry.type, "file");
      assert.equal(entry.size, bytes.length);
      assert.equal(entry.mode, 0o640);
      assert.ok(Math.abs(Number(entry.mtime) - Date.now() / 1000) < 60);
      const root = await json(await api("/v1/files"), 200);
      assert.ok((root.entries as Array<{ name: string; type: string }>).some((e) => e.name === "up" && e.type === "directory"));
      const got = await api(content("up/nested/data.bin"));
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
      // replacing keeps one file
      await json(await api(content("up/nested/data.bin"), { method: "PUT", body: "v2" }), 201);
      assert.equal(await (await api(content("up/nested/data.bin"))).text(), "v2");
      assert.equal((await api(content("up/nested/data.bin"), { method: "DELETE" })).status, 204);
      await json(await api(content("up/nested/data.bin")), 404);
      await json(await api(content("up/nested/data.bin"), { method: "DELETE" }), 404);
      await json(await api(content("up/nested"), { method: "DELETE" }), 409);
      await json(await api(content("up/nested"), { method: "PUT", body: "x" }), 409);
      await json(await api(content("up")), 400);
      await json(await api(files("nothing/here")), 404);
      for (const mode of ["4755", "abc", "0o644"]) {
        const bad = await json(await api(`${content("up/m.txt")}&mode=${mode}`, { method: "PUT", body: "x" }), 400);
        assert.match(String(bad.detail), /invalid mode/);
      }
      assert.equal(fs.existsSync(path.join(workspace, "up/m.txt")), false);
    });

    it("downloads are attachments a browser never runs: octet-stream, nosniff, CSP sandbox, an encoded file name", async () => {
      const name = 'évil" <x>.html';
      await json(await api(content(`web/${name}`), { method: "PUT", body: "<script>alert(1)</script>" }), 201);
      const res = await api(content(`web/${name}`));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("content-security-policy"), "sandbox; default-src 'none'");
      assert.equal(res.headers.get("content-disposition"), "attachment; filename*=UTF-8''%C3%A9vil%22%20%3Cx%3E.html");
      assert.equal(res.headers.get("content-length"), "25");
      assert.equal(await res.text(), "<script>alert(1)</script>");
      const head = await api(content(`web/${name}`), { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), "25");
      assert.equal(head.headers.get("content-type"), "application/octet-stream");
    });

    it("an upload at the size limit is taken; one byte over is a 413 that leaves nothing behind", async () => {
      const limit = 64 * 1024;
      await json(await api(content("limit/at.bin"), { method: "PUT", body: Buffer.alloc(limit, 7) }), 201);
      assert.equal(fs.statSync(path.join(workspace, "limit/at.bin")).size, limit);
      const over = await json(await api(content("limit/over.bin"), { method: "PUT", body: Buffer.alloc(limit + 1, 7) }), 413);
      assert.match(String(over.detail), new RegExp(`limit ${limit} bytes`));
      // without a Content-Length (chunked), the bytes read are counted
      const chunks = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(limit / 4));
          controller.close();
        },
      });
      const res = await api(content("limit/chunked.bin"), { method: "PUT", body: chunks, duplex: "half" } as RequestInit);
      assert.equal(res.status, 413);
      assert.deepEqual(fs.readdirSync(path.join(workspace, "limit")), ["at.bin"]);
    });

    it("listings stop at FLUX_MAX_LIST_ENTRIES with truncated: true", async () => {
      for (let i = 0; i < 7; i++) await json(await api(content(`many/f${i}`), { method: "PUT", body: "x" }), 201);
      const listing = await json(await api(files("many")), 200);
      assert.equal((listing.entries as unknown[]).length, 5);
      assert.equal(listing.truncated, true);
    });

    it("hostile paths are refused before anything is opened", async () => {
      const raw = async (query: string, status: number, why: RegExp) => {
        const body = await json(await api(`/v1/files/content?path=${query}`), status);
        assert.match(String(body.detail), why, query);
      };
      await raw("..", 400, /has a "\.\." part/);
      await raw("../etc/passwd", 400, /has a "\.\." part/);
      await raw("%2e%2e/%2e%2e/etc/passwd", 400, /has a "\.\." part/);
      await raw("a/%2E%2E/%2E%2E/x", 400, /has a "\.\." part/);
      await raw("/etc/passwd", 400, /is absolute/);
      await raw("%2Fetc%2Fpasswd", 400, /is absolute/);
      await raw("a%00b", 400, /control character/);
      await raw("a%0Ab", 400, /control character/);
      await raw("..%5C..%5Cx", 400, /backslash/);
      await raw("a//b", 400, /empty part/);
      // "%252e%252e" is decoded once: the literal name "%2e%2e", which simply does not exist
      await raw("%252e%252e/x", 404, /no such file/);
      const put = await json(await api("/v1/files/content?path=../x", { method: "PUT", body: "x" }), 400);
      assert.match(String(put.detail), /"\.\." part/);
      await json(await api("/v1/files?path=..", {}), 400);
      await json(await api("/v1/files/content?path=../x", { method: "DELETE" }), 400);
    });

    it("a symlink leading out of the workspace is 403 for every route; one that stays inside is followed", async () => {
      fs.mkdirSync(path.join(workspace, "links/real"), { recursive: true });
      fs.writeFileSync(path.join(workspace, "links/real/inside.txt"), "inside\n");
      fs.symlinkSync(outside, path.join(workspace, "links/out"));
      fs.symlinkSync(path.join(outside, "secret.txt"), path.join(workspace, "links/secret.txt"));
      fs.symlinkSync("real", path.join(workspace, "links/in"));
      fs.symlinkSync("../links/real/inside.txt", path.join(workspace, "links/in.txt"));
      const leaves = { detail: "path leaves the workspace" };
      assert.deepEqual(await json(await api(content("links/secret.txt")), 403), leaves);
      assert.deepEqual(await json(await api(content("links/out/secret.txt")), 403), leaves);
      assert.deepEqual(await json(await api(files("links/out")), 403), leaves);
      assert.deepEqual(await json(await api(content("links/out/new.txt"), { method: "PUT", body: "x" }), 403), leaves);
      assert.deepEqual(fs.readdirSync(outside), ["secret.txt"]);
      // a workdir through the link is refused too
      const wd = await json(await api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ command: "true", workdir: "links/out/job" }) }), 403);
      assert.deepEqual(wd, leaves);
      assert.deepEqual(fs.readdirSync(outside), ["secret.txt"]);
      // deleting a link removes the link, never its target
      assert.equal((await api(content("links/secret.txt"), { method: "DELETE" })).status, 204);
      assert.equal(fs.readFileSync(path.join(outside, "secret.txt"), "utf8"), "outside\n");
      // links that stay inside are followed
      assert.equal(await (await api(content("links/in/inside.txt"))).text(), "inside\n");
      assert.equal(await (await api(content("links/in.txt"))).text(), "inside\n");
      const listing = await json(await api(files("links")), 200);
      assert.deepEqual(
        (listing.entries as Array<{ name: string; type: string }>).map((e) => `${e.name}:${e.type}`),
        ["in:symlink", "in.txt:symlink", "out:symlink", "real:directory"],
      );
    });
  });

  it("the OpenAPI document has the file routes and the submit's files, script and script_args", async () => {
    const doc = (await (await fetch(`${sidecar.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    assert.deepEqual(Object.keys(doc.paths["/v1/files/content"]).sort(), ["delete", "get", "put"]);
    assert.ok(doc.paths["/v1/files"].get.responses["403"]);
    assert.ok(doc.paths["/v1/files/content"].put.responses["413"]);
    assert.ok(doc.paths["/v1/jobs/{id}/files"].get);
    const submit = doc.paths["/v1/jobs/submit"].post as unknown as { requestBody: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } };
    for (const field of ["files", "script", "script_args"]) assert.ok(submit.requestBody.content["application/json"].schema.properties?.[field], field);
    assert.ok(submit.requestBody.content["multipart/form-data"].schema.properties?.files);
    assert.equal((await fetch(`${sidecar.url}/docs`)).status, 200);
  });

  describe("without a workspace, and with auth on", () => {
    it("the file routes answer 501 when FLUX_WORKSPACE is not set, and submit works as before", async () => {
      const plain = await startTestSidecar(broker);
      try {
        const papi = apiFor(plain);
        for (const [method, p] of [["GET", "/v1/files"], ["GET", content("x")], ["PUT", content("x")], ["DELETE", content("x")], ["GET", "/v1/jobs/1/files"]]) {
          const body = await json(await papi(p, { method, body: method === "PUT" ? "x" : undefined }), 501);
          assert.deepEqual(body, { detail: "no workspace: FLUX_WORKSPACE is not set" }, `${method} ${p}`);
        }
        const id = await submitJson(papi, { command: ["true"] });
        const info = await waitInactive(papi, id, JOB_TIMEOUT_MS);
        assert.equal(info.returncode, 0);
      } finally {
        await plain.close();
      }
    });

    it("every file route needs credentials when auth is on", async () => {
      const guarded = await startTestSidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_WORKSPACE: workspace });
      try {
        const anonymous = apiFor(guarded);
        for (const [method, p] of [["GET", "/v1/files"], ["GET", content("x")], ["PUT", content("x")], ["DELETE", content("x")], ["GET", "/v1/jobs/1/files"]]) {
          const res = await anonymous(p, { method, body: method === "PUT" ? "x" : undefined });
          assert.equal(res.status, 401, `${method} ${p}`);
        }
        assert.equal(fs.existsSync(path.join(workspace, "x")), false);
        const authed = apiFor(guarded, await accessToken(guarded));
        await json(await authed(content("authed.txt"), { method: "PUT", body: "ok" }), 201);
        assert.equal(await (await authed(content("authed.txt"))).text(), "ok");
      } finally {
        await guarded.close();
      }
    });
  });
});
