/**
 * The program under Pulumi's own Node.js host: ts-node in transpile-only mode (type checking is
 * `npm run typecheck`'s job), and the SDK's runner reaching the program's first resource.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { measureOnce } from "../../scripts/host-load-time";

const ROOT = path.join(__dirname, "..", "..");

describe("the program under Pulumi's Node.js host", () => {
  it("has ts-node transpile without type checking, with exactly the options Pulumi's runner passes", () => {
    // cmd/run/run.js: transpileOnly from PULUMI_NODEJS_TRANSPILE_ONLY, else tsconfig's compilerOptions.noCheck;
    // both unset here, so ts-node's own config (tsconfig.json "ts-node") decides.
    const tsconfig = parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8"));
    assert.equal(tsconfig.compilerOptions.noCheck, undefined, "noCheck would also switch off `tsc -p .`");
    const { create } = require("ts-node") as typeof import("ts-node");
    const service = create({
      compiler: "typescript", transpileOnly: undefined, project: path.join(ROOT, "tsconfig.json"), skipProject: false, compilerOptions: {},
    });
    assert.equal(service.options.transpileOnly, true);
  });

  it("still type checks the program in `npm run typecheck`, which `npm test` runs", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    assert.match(pkg.scripts.typecheck, /\btsc -p \.$/);
    assert.match(pkg.scripts.test, /npm run typecheck/);
    const tsconfig = parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8"));
    for (const dir of ["infra", "stacks", "components"]) assert.ok(tsconfig.include.includes(dir), dir);
  });

  it("runs under the SDK's own runner (what `pulumi up` starts) through to the program's first resource", function () {
    this.timeout(180_000);
    // No operator to download (offline); which of the stack's first resources reaches the engine first varies.
    const first = measureOnce("gke", "project", undefined, 170_000, { "flux-restful:installOperator": "false" });
    assert.match(`${first.type} ${first.name}`, /^(flux-restful:index:(GkeCluster gke|StackTls api-tls)|pulumi:providers:gcp gcp)$/);
    assert.ok(first.ms > 0);
  });
});
