/**
 * Pulumi entry point (package.json "main"). Pulumi calls the exported function and awaits it; the
 * properties of its result are the stack outputs (cloud, endpoint, url, user, token, ...; see StackOutputs).
 */
import { runStack } from "./program";
import { waitUntilReady } from "./readiness";

export = () => runStack({ waitUntilReady: (url, ca) => waitUntilReady(url, ca) });
