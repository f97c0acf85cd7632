import * as aws from "@pulumi/aws";
import { EksCluster } from "../components/eks-cluster";
import { LbController } from "../components/lb-controller";
import { albEndpoint } from "../components/restful-endpoint.build";
import { StackTls } from "../components/stack-tls";
import { albServerNames } from "../components/stack-tls.build";
import { stackTags } from "../components/names.build";
import { PROJECT, type EksConfig } from "../infra/config";
import { ProgramInputs, StackOutputs, deployFluxRestful, stackOutputs, warnInsecureHttp } from "./flux-restful";

/** EKS: VPC, cluster and nodes, the load balancer controller, and the API behind an internet-facing HTTPS ALB. */
export function deployEks(cfg: EksConfig, inputs: ProgramInputs): StackOutputs {
  const tags = stackTags(PROJECT, cfg.stack);
  // Every AWS resource through this provider carries the stack's tags.
  const amazon = new aws.Provider("aws", { region: cfg.region as aws.Region, defaultTags: { tags } });
  const providers = { providers: { aws: amazon } };
  const eks = new EksCluster("eks", {
    region: cfg.region, clusterName: cfg.clusterName, nodeCount: cfg.nodeCount, instanceType: cfg.instanceType, tags,
  }, providers);
  const lbc = new LbController("lb-controller", {
    clusterName: cfg.clusterName,
    region: cfg.region,
    vpcId: eks.vpc.id,
    oidcProviderArn: eks.cluster.oidcProviderArn,
    oidcIssuer: eks.cluster.oidcIssuer,
    provider: eks.provider,
    dependsOn: [eks.nodeGroup],
  }, providers);
  if (cfg.insecureHttp) warnInsecureHttp(cfg.cloud);
  // The user's certificate wins; otherwise the stack's own, imported into ACM for the ALB to serve.
  const generated = cfg.certificateArn || cfg.insecureHttp
    ? undefined
    : new StackTls("api-tls", { stack: cfg.stack, names: albServerNames(cfg.region) });
  const imported = generated && new aws.acm.Certificate("api-certificate", {
    certificateBody: generated.certificate,
    privateKey: generated.privateKey,
    certificateChain: generated.caCertificate,
  }, { provider: amazon });
  const app = deployFluxRestful(cfg, inputs, {
    provider: eks.provider,
    servicesDependOn: lbc.ready,
    alb: { certificateArn: cfg.certificateArn ?? imported?.arn, inboundCidrs: cfg.inboundCidrs },
  });
  const https = !cfg.insecureHttp;
  return stackOutputs(cfg, app, {
    endpoint: app.endpoint.albHostname!.apply((hostname) => albEndpoint(hostname, https)),
    kubeconfig: eks.kubeconfig,
    clusterName: cfg.clusterName,
    caCertificate: generated?.caCertificate,
    waitUntilReady: inputs.waitUntilReady,
  });
}
