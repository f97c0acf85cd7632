import { EksCluster } from "../components/eks-cluster";
import { LbController } from "../components/lb-controller";
import { albEndpoint } from "../components/restful-endpoint.build";
import type { EksConfig } from "../infra/config";
import { ProgramInputs, StackOutputs, deployFluxRestful, stackOutputs } from "./flux-restful";

/** EKS: VPC, cluster and nodes, the load balancer controller, and the API behind an internet-facing ALB. */
export function deployEks(cfg: EksConfig, inputs: ProgramInputs): StackOutputs {
  const eks = new EksCluster("eks", { region: cfg.region, clusterName: cfg.clusterName, nodeCount: cfg.nodeCount, instanceType: cfg.instanceType });
  const lbc = new LbController("lb-controller", {
    clusterName: cfg.clusterName,
    region: cfg.region,
    vpcId: eks.vpc.id,
    oidcProviderArn: eks.cluster.oidcProviderArn,
    oidcIssuer: eks.cluster.oidcIssuer,
    provider: eks.provider,
    dependsOn: [eks.nodeGroup],
  });
  const app = deployFluxRestful(cfg, inputs, {
    provider: eks.provider,
    servicesDependOn: lbc.ready,
    alb: { certificateArn: cfg.certificateArn, inboundCidrs: cfg.inboundCidrs },
  });
  const https = cfg.certificateArn !== undefined;
  return stackOutputs(cfg, app, {
    endpoint: app.endpoint.albHostname!.apply((hostname) => albEndpoint(hostname, https)),
    kubeconfig: eks.kubeconfig,
    clusterName: cfg.clusterName,
  });
}
