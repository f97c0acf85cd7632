/** Config validation (pure) and the stack files. */
import { strict as assert } from "node:assert";
import {
  ConfigError, DEFAULTS, ENCRYPTED, PLAIN_KEYS, PLAIN_TEXT, PROJECT_FILE, SECRET_KEYS, SETTINGS, isCidr, parseConfig, projectDefaults,
  readProjectSettings, stackName, type RawConfig,
} from "../../infra/config";
import { SIDECAR_IMAGE } from "../../components/minicluster.build";
import { FLUX_OPERATOR } from "../../components/flux-operator.build";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { readStackFile, withProjectDefaults } from "../../scripts/plan";

const gke = (extra: RawConfig = {}): RawConfig => ({
  "flux-restful:cloud": "gke", "gcp:project": "p", "gcp:zone": "us-central1-a", ...extra,
});
const eks = (extra: RawConfig = {}): RawConfig => ({ "flux-restful:cloud": "eks", "aws:region": "us-east-2", ...extra });

function rejects(raw: RawConfig, key: string, message: RegExp): void {
  assert.throws(() => parseConfig(raw, "s"), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, key);
    assert.match(err.message, new RegExp(`^Invalid configuration "${key}"`));
    assert.match(err.message, message);
    return true;
  });
}

describe("infra config", () => {
  it("fills the documented defaults: 4 x c2d-standard-8 on GKE, m5.2xlarge on EKS", () => {
    const g = parseConfig(gke(), "gke");
    assert.equal(g.cloud, "gke");
    if (g.cloud !== "gke") return;
    assert.equal(g.nodeCount, 4);
    assert.equal(g.size, 4);
    assert.equal(g.maxSize, 4);
    assert.equal(g.machineType, "c2d-standard-8");
    assert.deepEqual(g.allowedCidrs, ["0.0.0.0/0"]);
    assert.equal(g.nodePort, 30093);
    assert.equal(g.tls, false);
    assert.equal(g.fluxViewImage, "ghcr.io/converged-computing/flux-view-rocky:tag-9");
    const e = parseConfig(eks(), "eks");
    assert.ok(e.cloud === "eks" && e.instanceType === "m5.2xlarge" && e.nodeCount === 4 && e.certificateArn === undefined);
  });

  it("takes the Flux view image (which flux-core the brokers run) from config, pinned by tag or digest", () => {
    const pinned = "ghcr.io/converged-computing/flux-view-rocky@sha256:" + "a".repeat(64);
    assert.equal(parseConfig(gke({ "flux-restful:fluxViewImage": pinned }), "s").fluxViewImage, pinned);
    assert.equal(parseConfig(gke({ "flux-restful:fluxViewImage": "registry.example:5000/view:0.88" }), "s").fluxViewImage, "registry.example:5000/view:0.88");
  });

  it("reads lists as JSON (what YAML lists become) or comma-separated", () => {
    const a = parseConfig(gke({ "flux-restful:allowedCidrs": '["203.0.113.0/24","2001:db8::/32"]' }), "s");
    const b = parseConfig(gke({ "flux-restful:allowedCidrs": "203.0.113.0/24, 2001:db8::/32" }), "s");
    assert.ok(a.cloud === "gke" && b.cloud === "gke");
    assert.deepEqual(a.allowedCidrs, ["203.0.113.0/24", "2001:db8::/32"]);
    assert.deepEqual(b.allowedCidrs, a.allowedCidrs);
  });

  it("names the key and what to set for every invalid or missing value", () => {
    rejects({}, "flux-restful:cloud", /is required and not set\. Set it with: pulumi config set flux-restful:cloud gke/);
    rejects({ "flux-restful:cloud": "azure" }, "flux-restful:cloud", /must be one of gke, eks, local/);
    rejects(gke({ "gcp:project": undefined }), "gcp:project", /pulumi config set gcp:project/);
    rejects(gke({ "gcp:zone": "us-central1" }), "gcp:zone", /must be a zone such as us-central1-a/);
    rejects(eks({ "aws:region": "" }), "aws:region", /the AWS region is required/);
    rejects(gke({ "flux-restful:size": "-1" }), "flux-restful:size", /whole number from 0/);
    rejects(gke({ "flux-restful:size": "two" }), "flux-restful:size", /got "two"/);
    rejects(gke({ "flux-restful:size": "5" }), "flux-restful:size", /5 MiniCluster pods but the cluster has 4 nodes.*raise flux-restful:nodeCount/);
    rejects(gke({ "flux-restful:maxSize": "3" }), "flux-restful:maxSize", /smaller than flux-restful:size/);
    rejects(gke({ "flux-restful:allowedCidrs": "10.0.0.0/33" }), "flux-restful:allowedCidrs", /"10.0.0.0\/33" is not a CIDR/);
    rejects(gke({ "flux-restful:allowedCidrs": "[1" }), "flux-restful:allowedCidrs", /not a valid JSON list/);
    rejects(eks({ "flux-restful:inboundCidrs": "everywhere" }), "flux-restful:inboundCidrs", /not a CIDR/);
    rejects(gke({ "flux-restful:nodePort": "80" }), "flux-restful:nodePort", /from 30000 to 32767/);
    rejects(gke({ "flux-restful:hasGpus": "maybe" }), "flux-restful:hasGpus", /true or false/);
    rejects(gke({ "flux-restful:sidecarImage": "node" }), "flux-restful:sidecarImage", /must pin a tag/);
    rejects(gke({ "flux-restful:sidecarImage": "node:latest" }), "flux-restful:sidecarImage", /must pin a tag/);
    rejects(gke({ "flux-restful:sidecarImage": "node:20-alpine" }), "flux-restful:sidecarImage", /Debian-based/);
    rejects(gke({ "flux-restful:fluxViewImage": "ghcr.io/converged-computing/flux-view-rocky" }), "flux-restful:fluxViewImage", /must pin a tag or digest/);
    rejects(gke({ "flux-restful:fluxViewImage": "ghcr.io/converged-computing/flux-view-rocky:latest" }), "flux-restful:fluxViewImage", /must pin a tag or digest/);
    rejects(gke({ "flux-restful:clusterName": "Flux_Cluster" }), "flux-restful:clusterName", /lowercase/);
    rejects(eks({ "flux-restful:certificateArn": "arn:aws:iam::1:role/x" }), "flux-restful:certificateArn", /ACM certificate ARN/);
    rejects(gke({ "flux-restful:tlsCertificate": "[secret]" }), "flux-restful:tlsKey", /pulumi config set --secret flux-restful:tlsKey/);
    rejects(eks({ "flux-restful:tlsCertificate": "[secret]", "flux-restful:tlsKey": "[secret]" }), "flux-restful:tlsCertificate", /certificateArn/);
    rejects(gke({ "flux-restful:nodecount": "4" }), "flux-restful:nodecount", /not a setting of this program/);
    rejects({ "flux-restful:cloud": "local", "flux-restful:nodeAddress": "not an address!" }, "flux-restful:nodeAddress", /IP address or host name/);
  });

  it("refuses a secret key stored in plain text, showing the --secret command", () => {
    rejects(gke({ "flux-restful:fluxToken": PLAIN_TEXT }), "flux-restful:fluxToken",
      /is stored in plain text in the stack's config\. Store it encrypted instead: pulumi config set --secret flux-restful:fluxToken <value>$/);
    rejects(eks({ "flux-restful:fluxSecretKey": PLAIN_TEXT }), "flux-restful:fluxSecretKey", /pulumi config set --secret flux-restful:fluxSecretKey <value>$/);
    rejects(gke({ "flux-restful:tlsCertificate": ENCRYPTED, "flux-restful:tlsKey": PLAIN_TEXT }), "flux-restful:tlsKey",
      /pulumi config set --secret flux-restful:tlsKey < file\.pem$/);
    assert.equal(parseConfig(gke({ "flux-restful:fluxToken": ENCRYPTED, "flux-restful:fluxSecretKey": ENCRYPTED }), "s").cloud, "gke");
  });

  it("does not limit size by nodes on the local stack, whose node count it cannot know", () => {
    const c = parseConfig({ "flux-restful:cloud": "local", "flux-restful:size": "8" }, "local");
    assert.ok(c.cloud === "local" && c.size === 8 && c.localPort === DEFAULTS.localPort && c.nodeAddress === undefined);
  });

  it("turns HTTPS on when both TLS secrets are set", () => {
    assert.equal(parseConfig(gke({ "flux-restful:tlsCertificate": "[secret]", "flux-restful:tlsKey": "[secret]" }), "s").tls, true);
    assert.equal(parseConfig(gke({ "flux-restful:fluxToken": "[secret]" }), "s").tls, false);
  });

  it("takes plain HTTP only as an explicit opt-out on a cloud stack, never together with a certificate", () => {
    assert.equal(parseConfig(gke(), "s").insecureHttp, false);
    assert.equal(parseConfig(eks({ "flux-restful:insecureHttp": "true" }), "s").insecureHttp, true);
    rejects({ "flux-restful:cloud": "local", "flux-restful:insecureHttp": "true" }, "flux-restful:insecureHttp", /for gke and eks/);
    rejects(gke({ "flux-restful:insecureHttp": "true", "flux-restful:tlsCertificate": "[secret]", "flux-restful:tlsKey": "[secret]" }),
      "flux-restful:insecureHttp", /contradicts flux-restful:tlsCertificate/);
    rejects(eks({ "flux-restful:insecureHttp": "true", "flux-restful:certificateArn": "arn:aws:acm:us-east-2:123456789012:certificate/a" }),
      "flux-restful:insecureHttp", /contradicts flux-restful:certificateArn/);
    rejects(gke({ "flux-restful:insecureHttp": "maybe" }), "flux-restful:insecureHttp", /true or false/);
  });

  it("puts the workspace in each pod by default, or on a ReadWriteMany claim: yours, or one made from a storage class", () => {
    assert.deepEqual(parseConfig(gke(), "s").workspace, { kind: "emptyDir" });
    assert.deepEqual(parseConfig(gke({ "flux-restful:workspaceClaim": "shared" }), "s").workspace, { kind: "claim", claimName: "shared" });
    assert.deepEqual(parseConfig(eks({ "flux-restful:workspaceStorageClass": "efs-sc" }), "s").workspace,
      { kind: "storageClass", storageClass: "efs-sc", size: "1Ti" });
    assert.deepEqual(parseConfig(gke({ "flux-restful:workspaceStorageClass": "standard-rwx", "flux-restful:workspaceSize": "2560Gi" }), "s").workspace,
      { kind: "storageClass", storageClass: "standard-rwx", size: "2560Gi" });
    rejects(gke({ "flux-restful:workspaceClaim": "a", "flux-restful:workspaceStorageClass": "b" }), "flux-restful:workspaceStorageClass", /contradicts flux-restful:workspaceClaim/);
    assert.deepEqual(parseConfig(gke({ "flux-restful:workspaceSize": "2Ti" }), "s").workspace, { kind: "emptyDir" }, "a size alone changes nothing");
    rejects(gke({ "flux-restful:workspaceStorageClass": "x", "flux-restful:workspaceSize": "lots" }), "flux-restful:workspaceSize", /a storage size such as 1Ti/);
    rejects(gke({ "flux-restful:workspaceClaim": "Not_A_Name" }), "flux-restful:workspaceClaim", /PersistentVolumeClaim/);
  });

  it("derives cluster and namespace names from the stack unless set, shortened with a hash to stay unique", () => {
    const a = parseConfig(gke(), "team-a");
    assert.deepEqual([a.clusterName, a.namespace], ["flux-restful-team-a", "flux-restful-team-a"]);
    assert.deepEqual([stackName("Dev.Team_1", 63), stackName("dev", 63)], ["flux-restful-dev-team-1", "flux-restful-dev"]);
    const long1 = stackName("a-very-long-stack-name-for-one-team", 32);
    const long2 = stackName("a-very-long-stack-name-for-another-team", 32);
    assert.ok(long1.length <= 32 && long2.length <= 32 && long1 !== long2, `${long1} ${long2}`);
    assert.match(long1, /^flux-restful-a-very-long-[0-9a-f]{6}$/);
    assert.equal(parseConfig(gke({ "flux-restful:clusterName": "mine", "flux-restful:namespace": "ns" }), "s").clusterName, "mine");
    const longStack = parseConfig(gke(), "x".repeat(60));
    assert.match(longStack.clusterName, /^[a-z]([-a-z0-9]{0,30}[a-z0-9])$/);
  });

  it("checks CIDRs for both address families", () => {
    for (const ok of ["0.0.0.0/0", "203.0.113.7/32", "2001:db8::/48", "::/0"]) assert.ok(isCidr(ok), ok);
    for (const bad of ["203.0.113.7", "300.0.0.0/8", "10.0.0.0/x", "2001:db8::/129", ""]) assert.ok(!isCidr(bad), bad);
  });

  it("runs infra/index.ts as TypeScript through the project's own ts-node and TypeScript, as CommonJS", () => {
    const root = path.join(__dirname, "..", "..");
    const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
    assert.equal(project.name, "flux-restful");
    assert.equal(project.runtime.name, "nodejs");
    assert.equal(project.runtime.options.typescript, true);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
    assert.equal(pkg.main, "infra/index.ts");
    assert.equal(pkg.type, undefined);
    assert.equal(pkg.devDependencies["ts-node"], "10.9.2");
    assert.match(pkg.devDependencies.typescript, /^5\./, "Pulumi's ts-node path needs TypeScript < 7");
    assert.ok(fs.existsSync(path.join(root, "infra", "index.ts")));
  });

  it("exports from infra/index.ts a function, which Pulumi calls and awaits (the program is async)", () => {
    // required, as Pulumi's Node.js runtime loads the entry point
    const entry: unknown = require("../../infra/index");
    assert.equal(typeof entry, "function");
    assert.equal((entry as () => unknown).length, 0);
  });

  for (const stack of ["gke", "eks", "local"]) {
    it(`Pulumi.${stack}.yaml uses only known keys, targets ${stack} and validates with the documented defaults`, () => {
      const { values, secretKeys } = readStackFile(stack);
      assert.deepEqual(secretKeys, []);
      const known = [...PLAIN_KEYS, ...SECRET_KEYS].map((k) => `flux-restful:${k}`);
      for (const key of Object.keys(values)) {
        assert.ok(known.includes(key) || /^(gcp|aws):/.test(key), key);
      }
      const cfg = parseConfig({ "gcp:project": "p", ...values }, stack);
      assert.equal(cfg.cloud, stack);
      assert.equal(cfg.namespace, `flux-restful-${stack}`);
      if (cfg.cloud === "gke") {
        assert.equal(values["gcp:zone"], "us-central1-a");
        assert.deepEqual([cfg.nodeCount, cfg.machineType, cfg.allowedCidrs], [DEFAULTS.nodeCount, DEFAULTS.machineType, [...DEFAULTS.allowedCidrs]]);
      }
      if (cfg.cloud === "eks") assert.deepEqual([cfg.region, cfg.instanceType, cfg.nodeCount], ["us-east-2", DEFAULTS.instanceType, DEFAULTS.nodeCount]);
    });
  }
});

describe("the config schema in Pulumi.yaml", () => {
  const declared = readProjectSettings();
  const STACKS = ["gke", "eks", "local"];
  /** A stack file's own values, without the project defaults the CLI adds. */
  const ownValues = (stack: string): Record<string, string> => {
    const config = parse(fs.readFileSync(path.join(path.dirname(PROJECT_FILE), `Pulumi.${stack}.yaml`), "utf8")).config as Record<string, unknown>;
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  };

  it("declares exactly the settings the program reads, each with its type, a description and (cloud aside) a default", () => {
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(SETTINGS).sort());
    for (const [name, type] of Object.entries(SETTINGS)) {
      const entry = declared[name];
      assert.equal(entry.type, type, name);
      assert.ok((entry.description ?? "").length > 10, `${name} has a description`);
      if (type === "array") assert.deepEqual(entry.items, { type: "string" }, `${name}: Pulumi needs the items' type`);
      assert.equal(entry.secret, undefined, name);
      if (name === "cloud") assert.equal(entry.default, undefined, "cloud has no default: Pulumi requires it in every stack");
      else assert.notEqual(entry.default, undefined, `${name}: without a default Pulumi would require it in every stack`);
    }
  });

  it("is where the program takes its defaults from, refusing a file that disagrees with its types", () => {
    assert.deepEqual(DEFAULTS, projectDefaults(declared));
    assert.equal(DEFAULTS.nodeCount, declared.nodeCount.default);
    assert.deepEqual(DEFAULTS.allowedCidrs, declared.allowedCidrs.default);
    assert.throws(() => projectDefaults({ ...declared, nodeCount: { ...declared.nodeCount, type: "string", default: "4" } }),
      /config "nodeCount" with type integer/);
    assert.throws(() => projectDefaults({ ...declared, localPort: { ...declared.localPort, default: "5000" } }), /"localPort" a default of type integer/);
    const { hasGpus: _, ...withoutOne } = declared;
    assert.throws(() => projectDefaults(withoutOne), /config "hasGpus"/);
  });

  it("matches the images the components pin", () => {
    assert.equal(DEFAULTS.sidecarImage, SIDECAR_IMAGE);
    assert.equal(DEFAULTS.fluxViewImage, FLUX_OPERATOR.viewImage);
  });

  it("leaves out the optional secrets (a declared secret is required in every stack), which the program reads encrypted", () => {
    const text = fs.readFileSync(PROJECT_FILE, "utf8");
    for (const key of SECRET_KEYS) {
      assert.equal(declared[key], undefined, key);
      assert.match(text, new RegExp(`pulumi config set --secret flux-restful:${key} `), `Pulumi.yaml says how to set ${key}`);
    }
  });

  for (const stack of STACKS) {
    it(`Pulumi.${stack}.yaml repeats no default, and the program sees the same config with or without the CLI's defaults`, () => {
      const own = ownValues(stack);
      for (const [key, value] of Object.entries(own)) {
        const name = key.replace(/^flux-restful:/, "");
        if (name === key || name === "cloud") continue;
        const fallback = declared[name]?.default;
        assert.notEqual(value, typeof fallback === "string" ? fallback : JSON.stringify(fallback), `${key} repeats its default`);
      }
      const raw = { "gcp:project": "p", "flux-restful:kubeContext": "kind-kind", ...own };
      assert.deepEqual(parseConfig(withProjectDefaults(raw), stack), parseConfig(raw, stack));
    });
  }
});
