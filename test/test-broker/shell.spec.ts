/** The test broker's job-shell pieces (model/shell.ts) on their own; files.spec.ts checks them against real shells. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initialProgram, initialProgramEnvironment, prepareTmpdir, renderTemplates, ShellInitError, type ShellLog } from "./model/shell";

describe("test broker: job shell emulation", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "shell-unit-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes RFC 37 files: utf-8, base64, JSON values, parents made, modes under the umask", () => {
    const tmp = path.join(dir, "jobtmp-0-fX");
    prepareTmpdir(tmp, {
      "a.txt": { mode: 0o100644, data: "text\n", encoding: "utf-8" },
      "d/e/b.bin": { mode: 0o100600, data: Buffer.from([1, 2, 255]).toString("base64"), encoding: "base64" },
      "c.json": { mode: 0o100600, data: { k: [1, "x"] } },
      "run.sh": { mode: 0o100777, data: "#!/bin/sh\n", encoding: "utf-8" },
    });
    assert.equal(fs.statSync(tmp).mode & 0o777, 0o700 & ~process.umask());
    assert.equal(fs.readFileSync(path.join(tmp, "a.txt"), "utf8"), "text\n");
    assert.deepEqual([...fs.readFileSync(path.join(tmp, "d/e/b.bin"))], [1, 2, 255]);
    assert.equal(fs.readFileSync(path.join(tmp, "c.json"), "utf8"), '{"k":[1,"x"]}');
    assert.equal(fs.statSync(path.join(tmp, "run.sh")).mode & 0o777, 0o777 & ~process.umask());
  });

  it("fails the shell's init as libfilemap does: no S_IFREG, an unknown encoding, a name leading out", () => {
    assert.throws(() => prepareTmpdir(path.join(dir, "t1"), { x: { mode: 0o644, data: "x", encoding: "utf-8" } }), (e: Error) => e instanceof ShellInitError && e.message === "x: unknown file type (mode=0644)");
    assert.throws(() => prepareTmpdir(path.join(dir, "t2"), { x: { mode: 0o100644, data: "x", encoding: "rot13" } }), /unknown RFC 37 encoding rot13/);
    assert.throws(() => prepareTmpdir(path.join(dir, "t3"), { "../x": { mode: 0o100644, data: "x", encoding: "utf-8" } }), /leaves FLUX_JOB_TMPDIR/);
    assert.throws(() => prepareTmpdir(path.join(dir, "missing", "t4"), undefined), /error creating FLUX_JOB_TMPDIR/);
  });

  it("renders tags as shell.c: id forms, jobid, name, tmpdir; what it cannot render stays, logged per release", () => {
    const logs: ShellLog[] = [];
    const vars = { tmpdir: "/t", id: 255n, name: "job", versionCode: 55 };
    assert.equal(renderTemplates("{{tmpdir}}/x {{id.dec}} {{jobid.hex}} {{id.dothex}} {{name}}", vars, (l) => logs.push(l)), "/t/x 255 0xff 0000.0000.0000.00ff job");
    assert.equal(renderTemplates("{{id}}", vars, (l) => logs.push(l)), "f5Q"); // 255 = 4·58 + 23
    assert.equal(renderTemplates("{{nope}} {{idx}} {{id.bogus}}", vars, (l) => logs.push(l)), "{{nope}} {{idx}} {{id.bogus}}");
    assert.deepEqual(logs, [
      { message: "Unknown mustache tag 'nope'", line: 1094 },
      { message: "Unknown mustache tag 'idx'", line: 1035 },
      { message: "Invalid jobid encoding 'id.bogus' specified", line: 1045 },
    ]);
    logs.length = 0;
    renderTemplates("{{nope}} {{jobid.bogus}}", { ...vars, versionCode: 88 }, (l) => logs.push(l));
    assert.deepEqual(logs, [{ message: "Invalid jobid encoding 'id.bogus' specified", line: 1291 }]);
  });

  it("finds a nested instance's initial program and gives it the environment runat.c does", () => {
    assert.deepEqual(initialProgram(["flux", "broker", "-Sx=y", "{{tmpdir}}/script", "a", "-b"]), ["{{tmpdir}}/script", "a", "-b"]);
    assert.deepEqual(initialProgram(["/usr/bin/flux", "broker", "prog"]), ["prog"]);
    assert.equal(initialProgram(["flux", "run", "x"]), undefined);
    assert.equal(initialProgram(["flux", "broker", "-v"]), undefined);
    const env = initialProgramEnvironment({ PATH: "/bin", FLUX_JOB_ID: "1", FLUX_JOB_TMPDIR: "/t", FLUX_TASK_RANK: "0", PMI_RANK: "0", SLURM_JOB_ID: "1", FLUX_URI: "local:///x", HOME: "/root" });
    assert.deepEqual(env, { PATH: "/bin", FLUX_URI: "local:///x", HOME: "/root" });
  });
});
