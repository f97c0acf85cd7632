import { GkeCluster } from "../components/gke-cluster";
import { directEndpoint } from "../components/restful-endpoint.build";
import type { GkeConfig } from "../infra/config";
import { ProgramInputs, StackOutputs, deployFluxRestful, stackOutputs } from "./flux-restful";

/** GKE: the cluster and its NodePort firewall rule; the API at a node's external IP and the NodePort. */
export function deployGke(cfg: GkeConfig, inputs: ProgramInputs): StackOutputs {
  const gke = new GkeCluster("gke", {
    project: cfg.project,
    clusterName: cfg.clusterName,
    zone: cfg.zone,
    nodeCount: cfg.nodeCount,
    machineType: cfg.machineType,
    releaseChannel: cfg.releaseChannel,
    nodePort: cfg.nodePort,
    allowedCidrs: cfg.allowedCidrs,
  });
  const app = deployFluxRestful(cfg, inputs, { provider: gke.provider, nodePort: cfg.nodePort });
  return stackOutputs(cfg, app, {
    endpoint: gke.nodeExternalIp.apply((ip) => directEndpoint(ip, cfg.nodePort, cfg.tls)),
    kubeconfig: gke.kubeconfig,
    clusterName: gke.cluster.name,
  });
}
