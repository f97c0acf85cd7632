/**
 * The CLI's file commands against our sidecar with a workspace, on the test broker: files
 * put/ls/get/rm (permission bits carried over, --json), submit and run with --file, run --get on
 * several nodes, batch (a script and an input sent, run on several nodes, the result file
 * downloaded), and batch's refusal of a script without "#!".
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { startBroker, type BrokerHandle } from "../support/broker";
import { runCli } from "./support/run-cli";

describe("flux-restful files, --file, --get and batch (sidecar on the broker)", function () {
  this.timeout(60_000);
  let broker: BrokerHandle;
  let sidecar: SidecarHandle;
  let workspace: string;
  let local: string;
  let host: string[];

  before(async () => {
    workspace = mkdtempSync(path.join(tmpdir(), "flux-cli-workspace-"));
    broker = await startBroker({ size: 4 });
    sidecar = await startSidecar(
      loadConfig({ PORT: "0", HOST: "127.0.0.1", FLUX_URI: broker.uri, FLUX_LOG_LEVEL: "silent", FLUX_JOB_PATH: process.env.PATH, FLUX_WORKSPACE: workspace }),
    );
    host = ["--host", sidecar.url];
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
    rmSync(workspace, { recursive: true, force: true });
  });
  beforeEach(() => {
    local = mkdtempSync(path.join(tmpdir(), "flux-cli-local-"));
  });
  afterEach(() => rmSync(local, { recursive: true, force: true }));

  it("files put, ls, get and rm a file, its permission bits carried over", async () => {
    const tool = path.join(local, "tool.sh");
    writeFileSync(tool, "#!/bin/sh\necho tool\n");
    chmodSync(tool, 0o750);
    const put = await runCli(["files", "put", ...host, tool, "bin/"]);
    assert.deepEqual(put, { code: 0, stdout: `uploaded ${tool} as bin/tool.sh (20 bytes, mode 0750)\n`, stderr: "" });
    assert.equal(statSync(path.join(workspace, "bin/tool.sh")).mode & 0o777, 0o750);

    const ls = await runCli(["files", "ls", ...host, "bin"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^MODE +SIZE +MODIFIED +NAME\n-rwxr-x--- +20 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +tool\.sh\n$/);
    const root = await runCli(["files", "ls", ...host, "--json"]);
    assert.deepEqual(JSON.parse(root.stdout).entries.map((e: { name: string; type: string }) => [e.name, e.type]), [["bin", "directory"]]);

    const get = await runCli(["files", "get", ...host, "bin/tool.sh", local + "/copy.sh"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(readFileSync(path.join(local, "copy.sh"), "utf8"), "#!/bin/sh\necho tool\n");

    assert.deepEqual(await runCli(["files", "rm", ...host, "bin/tool.sh"]), { code: 0, stdout: "removed bin/tool.sh\n", stderr: "" });
    const gone = await runCli(["files", "get", ...host, "bin/tool.sh", local]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^flux-restful: no such file or directory: bin\/tool\.sh \(HTTP 404\)\n$/);
    const missing = await runCli(["files", "put", ...host, path.join(local, "absent"), "x"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*absent \(ENOENT\)/);
  });

  it("run --get on three nodes: each rank's result comes back into --get-dir after the job", async () => {
    const dest = path.join(local, "results");
    const result = await runCli(["run", ...host, "-N", "3", "-n", "3", "--get", "out.*", "--get", "none*", "--get-dir", dest, "--", "sh", "-c", 'echo "rank $FLUX_TASK_RANK" > out.$FLUX_TASK_RANK; touch skipped']);
    assert.deepEqual(readdirSync(dest).sort(), ["out.0", "out.1", "out.2"]);
    for (const rank of [0, 1, 2]) assert.equal(readFileSync(path.join(dest, `out.${rank}`), "utf8"), `rank ${rank}\n`);
    assert.equal(result.code, 1, "a pattern matched nothing");
    assert.match(result.stderr, /no file of job ƒ\w+ matches "none\*" \(in jobs\/\d{8}T\d{6}Z-[0-9a-f]{8}\)/);
    assert.equal(result.stderr.match(/^saved jobs\/\S+\/out\.\d as .*\/results\/out\.\d \(7 bytes\)$/gm)?.length, 3);
  });

  it("submit --file: every node finds the files in {{tmpdir}}, an executable stays executable", async () => {
    const input = path.join(local, "input.txt");
    const tool = path.join(local, "tool.sh");
    writeFileSync(input, "hello from the laptop\n");
    writeFileSync(tool, "#!/bin/sh\necho tool on rank $FLUX_TASK_RANK\n");
    chmodSync(tool, 0o755);
    const result = await runCli(["submit", ...host, "--follow", "-N", "2", "-n", "2", "-l", "--file", input, "--file", `bin/run.sh=${tool}`, "--", "sh", "-c", "cat {{tmpdir}}/input.txt && {{tmpdir}}/bin/run.sh"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n").filter((l) => /^\d: /.test(l)).sort();
    assert.deepEqual(lines, ["0: hello from the laptop", "0: tool on rank 0", "1: hello from the laptop", "1: tool on rank 1"]);
    const bad = await runCli(["submit", ...host, "--file", path.join(local, "absent"), "--", "true"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--file ".*absent": cannot read .*absent \(ENOENT\)/);
  });

  it("batch: a script and an input sent, run on two nodes, the result file downloaded", async () => {
    const script = path.join(local, "count.sh");
    writeFileSync(script, '#!/bin/sh\necho "counting $1"\nwc -l < "$(dirname "$0")/input.txt" > result.txt\n');
    const input = path.join(local, "input.txt");
    writeFileSync(input, "a\nb\nc\nd\n");
    const dest = path.join(local, "got");
    const result = await runCli(["batch", ...host, "-N", "2", "--file", input, "--get", "result.txt", "--get-dir", dest, "--json", script, "lines"]);
    assert.equal(result.code, 0, result.stderr);
    const info = JSON.parse(result.stdout);
    assert.equal(info.name, "count.sh");
    assert.equal(info.nnodes, 2);
    assert.equal(info.result, "COMPLETED");
    assert.equal(readFileSync(path.join(dest, "result.txt"), "utf8").trim(), "4");
  });

  it("batch refuses a script that does not start with #!, and every command a --get leaving its directory, before connecting", async () => {
    const script = path.join(local, "plain.sh");
    writeFileSync(script, "echo no interpreter line\n");
    const result = await runCli(["batch", "--host", "http://127.0.0.1:9", script]);
    assert.deepEqual(result, {
      code: 2,
      stdout: "",
      stderr: `flux-restful: ${script} does not start with "#!": a batch script names its interpreter on its first line, e.g. #!/bin/sh\n`,
    });
    // so is a --get pattern that could leave the destination, on every command that takes one
    const good = path.join(local, "good.sh");
    writeFileSync(good, "#!/bin/sh\ntrue\n");
    for (const [command, ...args] of [["run", "--", "true"], ["submit", "--", "true"], ["batch", good]]) {
      const bad = await runCli([command, "--host", "http://127.0.0.1:9", "--get", "../*", ...args]);
      assert.equal(bad.code, 2, command);
      assert.match(bad.stderr, /--get "\.\.\/\*": expected a glob/);
    }
  });
});
