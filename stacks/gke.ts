import * as gcp from "@pulumi/gcp";
import { GkeCluster } from "../components/gke-cluster";
import { stackLabels } from "../components/names.build";
import { directEndpoint } from "../components/restful-endpoint.build";
import { StackTls } from "../components/stack-tls";
import { PROJECT, type GkeConfig } from "../infra/config";
import { ProgramInputs, StackOutputs, deployFluxRestful, stackOutputs, warnInsecureHttp } from "./flux-restful";

/** GKE: the cluster and its NodePort firewall rule; the API at a node's external IP and the NodePort, over HTTPS. */
export function deployGke(cfg: GkeConfig, inputs: ProgramInputs): StackOutputs {
  const labels = stackLabels(PROJECT, cfg.stack);
  // Every Google resource through this provider carries the stack's labels.
  const google = new gcp.Provider("gcp", { project: cfg.project, zone: cfg.zone, defaultLabels: labels });
  const gke = new GkeCluster("gke", {
    project: cfg.project,
    clusterName: cfg.clusterName,
    zone: cfg.zone,
    nodeCount: cfg.nodeCount,
    machineType: cfg.machineType,
    releaseChannel: cfg.releaseChannel,
    nodePort: cfg.nodePort,
    allowedCidrs: cfg.allowedCidrs,
    // The workspace claim the program makes needs a ReadWriteMany class: GKE's are Filestore's.
    filestoreCsiDriver: cfg.workspace.kind === "storageClass",
    labels,
  }, { providers: { gcp: google } });
  if (cfg.insecureHttp) warnInsecureHttp(cfg.cloud);
  // Clients connect to the node's IP, so the certificate names that IP.
  const generated = cfg.tls || cfg.insecureHttp
    ? undefined
    : new StackTls("api-tls", { stack: cfg.stack, names: { ipAddresses: [gke.nodeExternalIp] } });
  const app = deployFluxRestful(cfg, inputs, {
    provider: gke.provider,
    nodePort: cfg.nodePort,
    tls: generated && { certificate: generated.certificate, key: generated.privateKey },
  });
  const https = !cfg.insecureHttp;
  return stackOutputs(cfg, app, {
    endpoint: gke.nodeExternalIp.apply((ip) => directEndpoint(ip, cfg.nodePort, https)),
    kubeconfig: gke.kubeconfig,
    clusterName: gke.cluster.name,
    caCertificate: generated?.caCertificate,
    waitUntilReady: inputs.waitUntilReady,
  });
}
