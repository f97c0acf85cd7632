/**
 * The operator's wrapper around our container, on the lines that cost: operator 0.2.1 runs the
 * sidecar as `/bin/bash /flux_operator/start-1.sh`, rendered from pkg/flux/templates/start.sh and
 * components.sh (commit a7fce05, the tag 0.2.1). Those lines are reproduced below as they render for
 * our container (viewbase /mnt/flux, not quiet, SUDO empty as root) and run in a private mount
 * namespace with a view laid out under /mnt/flux, as its init container leaves it (the init
 * container ends before ours start, so the tree is complete). The cp is GNU coreutils, as in the
 * Debian image (bookworm: 9.1). Needs root and
 * util-linux `unshare`; says so and skips otherwise.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { FLUX_OPERATOR } from "../../components/flux-operator.build";
import { buildMiniCluster, SIDECAR_CONTAINER } from "../../components/minicluster.build";

/** start.sh line 8, then components.sh "wait-view" lines 27-29 and 47-53, as rendered for our container. */
const renderedWrapper = (init: string) => `
${init}
viewbase="/mnt/flux"
viewroot=\${viewbase}/view
software="\${viewbase}/software"
# Copy mount software to /opt/software
# If /opt/software already exists, we need to copy into it
if [[ -e  "/opt/software" ]]; then
  \${SUDO} cp -R \${viewbase}/software/* /opt/software/ || true
else
  \${SUDO} cp -R \${viewbase}/software /opt/software || true
fi
`;

function unshareWorks(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  try {
    execFileSync("unshare", ["-m", "--propagation", "private", "true"], { stdio: "ignore" });
    return undefined;
  } catch (err) {
    return `unshare -m failed: ${(err as Error).message}`;
  }
}

/** Runs the wrapper's lines over a fresh /opt and a view whose software tree holds 200 files of 64 KiB; returns what /opt holds after. */
function runWrapper(init: string): { optBytes: number; optEntries: string[]; softwareFiles: number } {
  const script = [
    "set -e",
    "mount -t tmpfs tmpfs /mnt && mount -t tmpfs tmpfs /opt",
    "mkdir -p /mnt/flux/view/bin /mnt/flux/software/linux-rocky9-x86_64/flux-core/lib",
    "for i in $(seq 1 200); do head -c 65536 /dev/zero > /mnt/flux/software/linux-rocky9-x86_64/flux-core/lib/f$i; done",
    "touch /mnt/flux/software/.spack-db",
    "set +e",
    renderedWrapper(init),
    "exec 2>/dev/null",
    'echo "opt-bytes $(du -sbP /opt | cut -f1)"',
    'echo "software-files $(find /mnt/flux/software -type f | wc -l)"',
    "find /opt -mindepth 1 | sed 's/^/opt-entry /'",
  ].join("\n");
  const out = execFileSync("unshare", ["-m", "--propagation", "private", "bash", "-c", script], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const value = (key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(out)?.[1]);
  return {
    optBytes: value("opt-bytes"),
    softwareFiles: value("software-files"),
    optEntries: [...out.matchAll(/^opt-entry (.*)$/gm)].map((m) => m[1]),
  };
}

describe("infra: the operator's wrapper in the sidecar container", function () {
  this.timeout(30_000);
  const why = unshareWorks();
  before(function () {
    if (why) {
      console.log(`      wrapper rehearsal skipped: ${why}`);
      this.skip();
    }
  });

  const sidecar = buildMiniCluster({
    namespace: "ns", size: 1, maxSize: 1, operator: FLUX_OPERATOR, sidecarImage: "node", viewImage: FLUX_OPERATOR.viewImage,
    hasGpus: false, tokenExpiresMinutes: 60, tls: false,
  }).spec.containers.find((c) => c.name === SIDECAR_CONTAINER)!;

  it("without our init command, copies the view's whole software tree into the container (the cost)", () => {
    const bare = runWrapper("");
    assert.ok(bare.optBytes >= 200 * 65536, `copied ${bare.optBytes} bytes`);
    assert.ok(bare.optEntries.includes("/opt/software/linux-rocky9-x86_64/flux-core/lib/f200"));
  });

  it("with the MiniCluster's init command, copies nothing: /opt/software is a link to the view's tree", () => {
    const ours = runWrapper(sidecar.commands!.init!);
    assert.deepEqual(ours.optEntries, ["/opt/software"], "nothing but the link");
    assert.ok(ours.optBytes < 4096, `${ours.optBytes} bytes under /opt`);
    assert.equal(ours.softwareFiles, 201, "the view's tree is untouched (nothing copied into itself)");
    const target = execFileSync("unshare", ["-m", "--propagation", "private", "bash", "-c",
      `mount -t tmpfs tmpfs /opt && mount -t tmpfs tmpfs /mnt && mkdir -p /mnt/flux/software && ${sidecar.commands!.init!} && readlink /opt/software`]).toString().trim();
    assert.equal(target, `${FLUX_OPERATOR.viewBase}/software`);
  });

  it("leaves an image's own /opt/software alone", () => {
    const own = execFileSync("unshare", ["-m", "--propagation", "private", "bash", "-c",
      `mount -t tmpfs tmpfs /opt && mkdir /opt/software && ${sidecar.commands!.init!}; test -d /opt/software && ! test -L /opt/software && echo kept`]).toString().trim();
    assert.equal(own, "kept");
  });
});
