/**
 * `npm run test:stress`: the full load run (64 clients, 30 s, auth on) against the test broker,
 * or against the broker FLUX_URI names. Prints the figures and exits non-zero on any violation.
 * Loopback only; stops by itself after the time or request budget.
 */
import { FULL_PROFILE, runStress } from "./stress";

runStress(FULL_PROFILE).then(
  ({ summary, violations }) => {
    console.log(summary);
    if (violations.length) {
      console.error(`FAILED: ${violations.join("; ")}`);
      process.exit(1);
    }
    console.log("OK: zero errors, zero lost submissions, RSS stable, no secrets in logs");
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
