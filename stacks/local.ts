import * as pulumi from "@pulumi/pulumi";
import { LocalCluster } from "../components/local-cluster";
import { directEndpoint, portForwardCommand } from "../components/restful-endpoint.build";
import type { LocalConfig } from "../infra/config";
import type { LocalTarget } from "../infra/sources";
import { ProgramInputs, StackOutputs, deployFluxRestful, stackOutputs } from "./flux-restful";

/** Any existing cluster, through the pinned context: the API on a node address, or through a port-forward. */
export function deployLocal(cfg: LocalConfig, inputs: ProgramInputs, target: LocalTarget): StackOutputs {
  const local = new LocalCluster("local", { kubeconfig: target.kubeconfig, clusterIdentifier: target.cluster });
  // NodePorts are cluster-wide: pinned only when the endpoint uses one, so stacks can share a cluster.
  const app = deployFluxRestful(cfg, inputs, { provider: local.provider, nodePort: cfg.nodeAddress ? cfg.nodePort : undefined });
  const endpoint = cfg.nodeAddress
    ? directEndpoint(cfg.nodeAddress, cfg.nodePort, cfg.tls)
    : directEndpoint("127.0.0.1", cfg.localPort, cfg.tls);
  const outputs = stackOutputs(cfg, app, {
    endpoint: pulumi.output(endpoint),
    kubeconfig: local.kubeconfig,
    clusterName: target.context,
    // Through a port-forward the API is reachable only once the user starts it.
    waitUntilReady: cfg.nodeAddress ? inputs.waitUntilReady : undefined,
  });
  return cfg.nodeAddress ? outputs : { ...outputs, portForwardCommand: portForwardCommand(cfg.namespace, cfg.localPort) };
}
