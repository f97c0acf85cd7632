/**
 * npm run test:flux — the contract suite against a real broker: starts `flux start --test-size=4`
 * around mocha with FLUX_CONTRACT_REAL=1, so test/support/broker.ts hands every contract test the
 * real instance. Without `flux` on PATH it says so and exits 0.
 *
 *   PATH=/path/to/flux-core/bin:$PATH npm run test:flux
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { fluxExecutable } from "../test/support/broker";

export const SKIP_MESSAGE = "flux not on PATH: real-broker contract run skipped";

/** argv of the real-broker run (shared with test/contract/real-broker.spec.ts). */
export function realBrokerCommand(root: string, specs = "test/contract/**/*.spec.ts"): string[] {
  return [
    "start",
    "--test-size=4",
    process.execPath,
    path.join(root, "node_modules", "mocha", "bin", "mocha.js"),
    "--no-config",
    "--node-option=import=tsx",
    "--reporter",
    path.join(root, "test", "support", "summary-reporter.cjs"),
    "--timeout",
    "60000",
    "--exit",
    specs,
  ];
}

function main(): void {
  const flux = fluxExecutable();
  if (!flux) {
    process.stdout.write(`${SKIP_MESSAGE}\n`);
    return;
  }
  const root = path.resolve(__dirname, "..");
  const child = spawn(flux, realBrokerCommand(root), { cwd: root, stdio: "inherit", env: { ...process.env, FLUX_CONTRACT_REAL: "1" } });
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (require.main === module) main();
