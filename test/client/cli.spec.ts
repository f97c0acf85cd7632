/**
 * The flux-restful CLI against the Python-like stand-in: mostly in-process through main(),
 * a few real subprocesses for exit codes and for errors printed without stack traces.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { formatF58, parseJson } from "flux-restful-client";
import { jobExitCode, parseDuration } from "flux-restful-client/cli";
import { PythonLikeServer } from "./support/python-like-server";
import { runCli, spawnCli } from "./support/run-cli";
import { stackOutputs, standInPulumi } from "./support/stand-in-pulumi";

const AUTH = { user: "fluxuser", token: "12345", secretKey: "notsosecrethoo" };

describe("flux-restful CLI", () => {
  let server: PythonLikeServer;
  let host: string[];
  beforeEach(async () => {
    server = await new PythonLikeServer({ nodes: ["n1", "n0"] }).listen();
    host = ["--host", server.url];
  });
  afterEach(() => server.close());

  it("lists nodes as a table and as JSON", async () => {
    assert.deepEqual(await runCli(["nodes", ...host]), { code: 0, stdout: "NODE\nn0\nn1\n", stderr: "" });
    const json = await runCli(["nodes", ...host, "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), { nodes: ["n1", "n0"] });
  });

  it("submits with every option and prints the exact id", async () => {
    const result = await runCli([
      "submit", ...host, "--json",
      "-N", "1", "-n", "2", "-c", "1", "-g", "1", "--exclusive",
      "--env", "FOO=bar=baz", "--env", "EMPTY=",
      "--workdir", "/tmp", "--time", "90s", "-o", "cpu-affinity=per-task", "-o", "verbose",
      "--", "printenv", "FOO",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const [job] = [...server.jobs.keys()];
    assert.ok(job > 2n ** 53n);
    assert.equal(result.stdout, `{"id":${job},"f58":"${formatF58(job)}"}\n`, "the id is printed exactly");
    const submit = server.requests.find((r) => r.path === "/v1/jobs/submit")!;
    assert.deepEqual(Object.fromEntries(submit.query), {
      command: "printenv FOO",
      num_nodes: "1",
      num_tasks: "2",
      cores_per_task: "1",
      gpus_per_task: "1",
      exclusive: "true",
      workdir: "/tmp",
      runtime: "90",
      option_flags: "cpu-affinity=per-task,verbose=1",
    });
    assert.deepEqual(JSON.parse(submit.body), { FOO: "bar=baz", EMPTY: "" });
  });

  it("takes options after the command as the command's own", async () => {
    const result = await runCli(["submit", ...host, "echo", "-n", "hi"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^submitted job \d+ \(ƒ\w+\)\n$/);
    assert.equal(server.requests.at(-1)!.query.get("command"), "echo -n hi");
    assert.equal(server.requests.at(-1)!.query.get("num_tasks"), null);
  });

  it("submit --wait exits with the job's return code and shows its info", async () => {
    const ok = await runCli(["submit", ...host, "--wait", "--", "hostname"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^state\s+INACTIVE$/m);
    assert.match(ok.stdout, /^result\s+COMPLETED$/m);
    const failed = await runCli(["submit", ...host, "--wait", "--json", "--", "false"]);
    assert.equal(failed.code, 1);
    assert.equal(JSON.parse(failed.stdout).result, "FAILED");
  });

  it("submit --follow prints the output as it comes, then exits with the return code", async () => {
    const result = await runCli(["submit", ...host, "--follow", "-n", "2", "--", "echo", "hello"]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.startsWith("hello\nhello\n"), result.stdout);
  });

  it("lists jobs, shows info, output, cancel and wait", async () => {
    const first = (await runCli(["submit", ...host, "--json", "--", "hostname"])).stdout;
    const idOf = (stdout: string) => String((parseJson(stdout) as { id: bigint }).id);
    const id = idOf(first);
    const sleeper = idOf((await runCli(["submit", ...host, "--json", "--", "sleep", "30"])).stdout);

    const jobs = await runCli(["jobs", ...host]);
    assert.equal(jobs.code, 0);
    const lines = jobs.stdout.trim().split("\n");
    assert.match(lines[0], /^ID\s+F58\s+NAME\s+STATE\s+RESULT/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), [sleeper, id]);
    assert.equal((await runCli(["jobs", ...host, "--limit", "1"])).stdout.trim().split("\n").length, 2);

    assert.equal((await runCli(["wait", ...host, id])).code, 0);
    const info = await runCli(["info", ...host, id]);
    assert.match(info.stdout, new RegExp(`^id\\s+${id} \\(ƒ\\w+\\)$`, "m"));
    assert.deepEqual(await runCli(["output", ...host, id]), { code: 0, stdout: "vm\n", stderr: "" });
    assert.equal((await runCli(["output", ...host, "--follow", id])).stdout, "vm\n");
    assert.deepEqual(JSON.parse((await runCli(["output", ...host, "--json", id])).stdout), { Output: ["vm\n"] });

    const timedOut = await runCli(["wait", ...host, "--timeout", "1", sleeper]);
    assert.equal(timedOut.code, 124);
    assert.equal(timedOut.stderr, `flux-restful: job ${sleeper} did not finish within 1000 ms\n`);
    const cancel = await runCli(["cancel", ...host, sleeper]);
    assert.deepEqual(cancel, { code: 0, stdout: "Job is requested to cancel.\n", stderr: "" });
    const waited = await runCli(["wait", ...host, "--json", sleeper]);
    assert.equal(waited.code, 143);
    assert.equal(JSON.parse(waited.stdout).result, "CANCELED");
  });

  it("prints one-line errors for an unknown job, a bad id, bad usage and refused options", async () => {
    assert.deepEqual(await runCli(["info", ...host, "777"]), { code: 1, stdout: "", stderr: "flux-restful: job 777 not found\n" });
    assert.deepEqual(await runCli(["cancel", ...host, "777"]), { code: 1, stdout: "", stderr: "flux-restful: job 777 not found\n" });
    const bad = await runCli(["info", ...host, "x1"]);
    assert.equal(bad.stderr, 'flux-restful: invalid job id "x1": expected a decimal or F58 (ƒ…) id\n');
    assert.equal((await runCli(["submit", ...host, "--env", "NOEQUALS", "--", "true"])).code, 2);
    assert.equal((await runCli(["submit", ...host, "-N", "zero", "--", "true"])).code, 2);
    const nodes = await runCli(["submit", ...host, "-N", "3", "--", "true"]);
    assert.deepEqual(nodes, { code: 1, stdout: "", stderr: "flux-restful: Invalid submit request: The server only has 2 nodes, you requested 3 (HTTP 400)\n" });
    const named = await runCli(["submit", ...host, "--name", "x", "--", "true"]);
    assert.match(named.stderr, /does not accept a job name/);
  });

  it("says when a submit's outcome is unknown, and exits 75 without resending it", async () => {
    server.failNext(1, 504, {}, "/v1/jobs/submit");
    const result = await runCli(["submit", ...host, "--", "true"]);
    assert.equal(result.code, 75);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^flux-restful: the job may or may not have been created \(injected \(HTTP 504\)\)\ncheck `flux-restful jobs` before submitting again\n$/);
    assert.equal(server.requests.filter((r) => r.path === "/v1/jobs/submit").length, 1);
    const keyed = await runCli(["submit", ...host, "--idempotency-key", "k1", "--", "true"]);
    assert.deepEqual(keyed, { code: 1, stdout: "", stderr: `flux-restful: ${server.url} does not honour idempotency keys (its OpenAPI document lists no Idempotency-Key for submit)\n` });
  });

  it("maps a job's returncode to an exit code", () => {
    const cases: Array<[number | "", string, number]> = [
      [0, "COMPLETED", 0],
      [3, "FAILED", 3],
      [143, "CANCELED", 143],
      [-15, "CANCELED", 143], // shell killed by SIGTERM
      [-128, "CANCELED", 1], // cancelled before it ran
      ["", "COMPLETED", 0],
      ["", "FAILED", 1],
    ];
    for (const [returncode, result, exit] of cases) assert.equal(jobExitCode({ returncode, result }), exit, `${returncode} ${result}`);
  });

  it("parses flux standard durations", () => {
    assert.equal(parseDuration("90s"), 90);
    assert.equal(parseDuration("1.5h"), 5400);
    assert.equal(parseDuration("2"), 120);
    assert.equal(parseDuration("1d"), 86400);
    assert.throws(() => parseDuration("soon"));
  });

  describe("connection settings", () => {
    let authServer: PythonLikeServer;
    let dir: string;
    beforeEach(async () => {
      authServer = await new PythonLikeServer({ auth: AUTH }).listen();
      dir = mkdtempSync(path.join(tmpdir(), "flux-restful-cli-"));
    });
    afterEach(async () => {
      await authServer.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("reads the Python client's environment variables", async () => {
      const env = { FLUX_RESTFUL_HOST: authServer.url, FLUX_USER: AUTH.user, FLUX_TOKEN: AUTH.token, FLUX_SECRET_KEY: AUTH.secretKey };
      assert.deepEqual(await runCli(["nodes", "--json"], env), { code: 0, stdout: '{"nodes":["vm"]}\n', stderr: "" });
      const flagWins = await runCli(["nodes", "--json", "--token", "wrong"], env);
      assert.equal(flagWins.code, 1);
      assert.match(flagWins.stderr, /^flux-restful: http:\/\/127\.0\.0\.1:\d+ refused the credentials of user "fluxuser" \(HTTP 400: Denied\): check the user, token and secret key\n$/);
    });

    it("explains missing credentials and a wrong secret", async () => {
      const none = await runCli(["nodes", "--host", authServer.url]);
      assert.match(none.stderr, /requires authentication: give a user and token/);
      const wrong = await runCli(["nodes", "--host", authServer.url, "--user", AUTH.user, "--token", AUTH.token, "--secret-key", "other"]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /HTTP 500: server error, typical of a wrong secret key/);
    });

    it("takes endpoint and credentials from `pulumi stack output` with --stack, before or after the command", async () => {
      const PATH = standInPulumi(dir, "dev", stackOutputs("dev", authServer.url, AUTH));
      const expected = { code: 0, stdout: '{"nodes":["vm"]}\n', stderr: "" };
      assert.deepEqual(await runCli(["nodes", "--stack", "dev", "--json"], { PATH }), expected);
      assert.deepEqual(await runCli(["--stack", "dev", "--json", "nodes"], { PATH }), expected);
      const missing = await runCli(["nodes", "--stack", "prod"], { PATH });
      assert.deepEqual(missing, { code: 1, stdout: "", stderr: "flux-restful: pulumi stack output --stack prod failed: error: no stack named 'prod' found\n" });
      const noPulumi = await runCli(["nodes", "--stack", "dev"], { PATH: dir + "/nothing-here" });
      assert.equal(noPulumi.stderr, "flux-restful: --stack needs the pulumi CLI on PATH\n");
    });

    it("accepts every connection option before or after the command", async () => {
      const flags = ["--host", authServer.url, "--user", AUTH.user, "--token", AUTH.token, "--secret-key", AUTH.secretKey, "--json"];
      const expected = { code: 0, stdout: '{"nodes":["vm"]}\n', stderr: "" };
      assert.deepEqual(await runCli([...flags, "nodes"]), expected);
      assert.deepEqual(await runCli(["nodes", ...flags]), expected);
      assert.deepEqual(await runCli([...flags.slice(0, 4), "nodes", ...flags.slice(4)]), expected);
      // after the command, the job's own arguments are the job's, even when they look like ours
      const submitted = await runCli([...flags, "submit", "echo", "--host", "--json"]);
      assert.equal(submitted.code, 0, submitted.stderr);
      assert.equal(authServer.requests.at(-1)!.query.get("command"), "echo --host --json");
    });
  });

  describe("as a subprocess", () => {
    it("exits with the job's return code and prints errors without a stack trace", async () => {
      const failed = await spawnCli(["submit", ...host, "--wait", "--", "false"]);
      assert.equal(failed.code, 1, failed.stderr);
      const ok = await spawnCli(["submit", ...host, "--follow", "--", "hostname"]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(ok.stdout.startsWith("vm\n"));
      const unknown = await spawnCli(["info", ...host, "5"]);
      assert.deepEqual(unknown, { code: 1, stdout: "", stderr: "flux-restful: job 5 not found\n" });
    });
  });
});
