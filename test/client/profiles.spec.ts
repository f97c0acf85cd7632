/**
 * Profiles (login, profiles, logout, --profile, FLUX_RESTFUL_PROFILE), the precedence
 * flags > environment > profile, and shell completion, against the Python-like stand-in with auth.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PythonLikeServer } from "./support/python-like-server";
import { runCli, spawnCli } from "./support/run-cli";
import { stackOutputs, standInPulumi } from "./support/stand-in-pulumi";

const AUTH = { user: "fluxuser", token: "12345", secretKey: "notsosecrethoo" };

describe("flux-restful profiles", () => {
  let server: PythonLikeServer;
  let other: PythonLikeServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(async () => {
    server = await new PythonLikeServer({ auth: AUTH, nodes: ["main-0"] }).listen();
    other = await new PythonLikeServer({ nodes: ["other-0"] }).listen();
    dir = mkdtempSync(path.join(tmpdir(), "flux-restful-profiles-"));
    env = { XDG_CONFIG_HOME: path.join(dir, "config") };
  });
  afterEach(async () => {
    await server.close();
    await other.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = () => path.join(dir, "config", "flux-restful", "profiles.json");
  const nodes = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const result = await runCli(["nodes", "--json", ...args], { ...env, ...extraEnv });
    return result.code === 0 ? JSON.parse(result.stdout).nodes[0] : result.stderr;
  };
  const credentials = ["--user", AUTH.user, "--token", AUTH.token, "--secret-key", AUTH.secretKey];

  it("login saves a profile from flags, readable by the user alone; it becomes the default", async () => {
    const login = await runCli(["login", "main", "--host", server.url, ...credentials], env);
    assert.deepEqual(login, { code: 0, stdout: `saved profile "main" (${server.url}) in ${file()}; it is the default\n`, stderr: "" });
    assert.equal(statSync(file()).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file())).mode & 0o777, 0o700);
    assert.deepEqual(JSON.parse(readFileSync(file(), "utf8")), {
      default: "main",
      profiles: { main: { host: server.url, ...AUTH } },
    });
    assert.equal(await nodes([]), "main-0", "the default profile, with its credentials");
  });

  it("login checks the connection first (unless --no-check) and needs a host", async () => {
    const wrong = await runCli(["login", "--host", server.url, "--user", AUTH.user, "--token", "guess", "--secret-key", AUTH.secretKey], env);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the credentials of user "fluxuser"/);
    assert.throws(() => statSync(file()), { code: "ENOENT" }, "nothing saved");
    assert.equal((await runCli(["login", "later", "--no-check", "--host", "http://127.0.0.1:9"], env)).code, 0);
    assert.deepEqual(await runCli(["login"], env), { code: 1, stdout: "", stderr: "flux-restful: login needs a host: --host URL, --stack NAME or FLUX_RESTFUL_HOST\n" });
  });

  it("login takes the environment, or a stack's outputs (--stack NAME --cwd DIR), named after the stack", async () => {
    const fromEnv = { FLUX_RESTFUL_HOST: server.url, FLUX_USER: AUTH.user, FLUX_TOKEN: AUTH.token, FLUX_SECRET_KEY: AUTH.secretKey };
    assert.equal((await runCli(["login", "from-env"], { ...env, ...fromEnv })).code, 0);
    const PATH = standInPulumi(dir, "gke", stackOutputs("gke", server.url, AUTH), "/srv/project");
    const login = await runCli(["login", "--stack", "gke", "--cwd", "/srv/project"], { ...env, PATH });
    assert.equal(login.code, 0, login.stderr);
    const saved = JSON.parse(readFileSync(file(), "utf8"));
    assert.deepEqual(Object.keys(saved.profiles), ["from-env", "gke"]);
    assert.deepEqual(saved.profiles.gke, saved.profiles["from-env"]);
    assert.equal(await nodes(["--profile", "gke"], { PATH: "/nowhere" }), "main-0", "no pulumi needed once saved");
  });

  it("chooses with --profile, FLUX_RESTFUL_PROFILE or the default; lists; logs out", async () => {
    await runCli(["login", "main", "--host", server.url, ...credentials], env);
    await runCli(["login", "other", "--host", other.url], env);
    const listed = await runCli(["profiles"], env);
    assert.equal(listed.stdout, `   NAME   HOST${" ".repeat(server.url.length - 4)}  USER\n*  main   ${server.url}  fluxuser\n   other  ${other.url}\n`);
    assert.deepEqual(JSON.parse((await runCli(["profiles", "--json"], env)).stdout).profiles.map((p: { name: string; default: boolean }) => [p.name, p.default]), [["main", true], ["other", false]]);
    assert.ok(!(await runCli(["profiles", "--json"], env)).stdout.includes(AUTH.token), "tokens are never listed");

    assert.equal(await nodes([]), "main-0");
    assert.equal(await nodes(["--profile", "other"]), "other-0");
    assert.equal(await nodes(["--profile", "other"], { FLUX_RESTFUL_PROFILE: "main" }), "other-0", "the flag beats the environment");
    assert.equal(await nodes([], { FLUX_RESTFUL_PROFILE: "other" }), "other-0");
    assert.equal(await runCli(["--profile", "nope", "nodes"], env).then((r) => r.stderr), 'flux-restful: no profile named "nope" (saved: main, other)\n');

    assert.equal((await runCli(["login", "other", "--default", "--host", other.url], env)).code, 0);
    assert.equal(await nodes([]), "other-0");
    assert.deepEqual(await runCli(["logout", "other"], env), { code: 0, stdout: 'removed profile "other"\n', stderr: "" });
    assert.equal(JSON.parse(readFileSync(file(), "utf8")).default, undefined);
    assert.equal(statSync(file()).mode & 0o777, 0o600);
    assert.equal((await runCli(["logout", "other"], env)).code, 1);
  });

  it("precedence: flags > environment > profile; the default profile never sends its credentials to another host", async () => {
    await runCli(["login", "main", "--host", server.url, ...credentials], env);
    // a flag or variable overrides one field of the profile in force
    assert.match(await nodes(["--token", "guess"]), /refused the credentials/);
    assert.match(await nodes([], { FLUX_TOKEN: "guess" }), /refused the credentials/);
    assert.equal(await nodes(["--token", AUTH.token], { FLUX_TOKEN: "guess" }), "main-0", "the flag beats the environment");
    // another host, by flag or environment: the default profile stays out of it
    assert.equal(await nodes(["--host", other.url]), "other-0");
    assert.equal(await nodes([], { FLUX_RESTFUL_HOST: other.url }), "other-0");
    assert.equal(other.requests.filter((r) => r.authorization).length, 0, "no credentials went to the other host");
    // a profile named explicitly applies as a whole, its fields under flags and environment
    assert.equal(await nodes(["--profile", "main", "--host", other.url]), "other-0");
  });
});

describe("flux-restful completion", () => {
  const complete = async (line: string) => {
    const result = await runCli(["__complete"], { COMP_LINE: line, COMP_POINT: String(line.length) });
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.split("\n").filter(Boolean);
  };

  it("completes commands, options, values and profile names from the command tree", async () => {
    assert.deepEqual(await complete("flux-restful c"), ["cancel", "cluster", "completion"]);
    assert.deepEqual(await complete("flux-restful --host http://x:5000 jo"), ["jobs"]);
    assert.deepEqual(await complete("flux-restful jobs --st"), ["--stack", "--state"]);
    assert.deepEqual(await complete("flux-restful jobs --state r"), ["run", "running"]);
    assert.deepEqual(await complete("flux-restful run -l"), ["-l"]);
    assert.deepEqual(await complete("flux-restful run -N 2 hostn"), [], "the job's command: files");
    assert.deepEqual(await complete("flux-restful submit -- ec"), []);
    assert.deepEqual(await complete("flux-restful completion "), ["bash", "zsh"]);
    assert.deepEqual(await complete("flux-restful files "), ["get", "help", "ls", "put", "rm"]);
    assert.deepEqual(await complete("flux-restful files ls --j"), ["--job", "--json"]);
    assert.deepEqual(await complete("flux-restful files put ./da"), [], "a local file: files");
    assert.deepEqual(await complete("flux-restful run --file "), [], "--file takes a local file: files");
    assert.deepEqual(await complete("flux-restful run --get-dir out --g"), ["--get", "--get-dir", "--gpus-per-task"]);
    assert.deepEqual(await complete("flux-restful batch -N 2 job.sh --"), [], "the script's own arguments");
    assert.deepEqual(await complete("flux-restful ba"), ["batch"]);
    assert.deepEqual(await complete("flux-restful --"), ["--cwd", "--help", "--host", "--json", "--profile", "--secret-key", "--stack", "--token", "--user", "--version"]);
  });

  it("bash registers the completion command and runs it the way bash does", async () => {
    const script = (await runCli(["completion", "bash"])).stdout;
    const registered = execFileSync("bash", ["-c", `${script}\ncomplete -p flux-restful`], { encoding: "utf8" });
    assert.equal(registered, "complete -o default -C 'flux-restful __complete' flux-restful\n");
    // bash runs that command with COMP_LINE and COMP_POINT set, and the command word, current word and previous word as arguments
    const asBash = await spawnCli(["__complete", "flux-restful", "nod", "flux-restful"], { COMP_LINE: "flux-restful nod", COMP_POINT: "16" });
    assert.deepEqual(asBash, { code: 0, stdout: "nodes\n", stderr: "" });
    const zsh = (await runCli(["completion", "zsh"])).stdout;
    assert.match(zsh, /^#compdef flux-restful\n/);
    assert.match(zsh, /flux-restful __complete/);
    assert.equal((await runCli(["completion", "fish"])).code, 2);
  });

  it("prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(path.resolve(__dirname, "../../client/package.json"), "utf8"));
    assert.deepEqual(await runCli(["--version"]), { code: 0, stdout: `${version}\n`, stderr: "" });
  });
});
