import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import {
  NODE_ROLE_POLICY_ARNS, SUBNETS, SubnetKind, VPC_CIDR, ec2AssumeRolePolicy, eksClusterIdentifier, subnetTags,
} from "./eks-cluster.build";
import { MUTABLE_DATA } from "./k8s-provider.build";

export interface EksClusterArgs {
  /** The region the default aws provider deploys to (aws:region); part of the cluster's identity. */
  region: string;
  clusterName: string;
  nodeCount: number;
  instanceType: string;
  /** The stack's tags, for what the EKS components create (the aws provider's default tags cover the rest). */
  tags: Record<string, string>;
}

/**
 * A two-zone VPC (public subnets for the ALB, private ones with a single NAT gateway for the nodes),
 * all tagged for load-balancer discovery; the EKS cluster in API authentication mode with its OIDC
 * provider; one managed node group; and a Kubernetes provider.
 */
export class EksCluster extends pulumi.ComponentResource {
  readonly vpc: aws.ec2.Vpc;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly cluster: eks.Cluster;
  readonly nodeGroup: eks.ManagedNodeGroup;
  readonly kubeconfig: pulumi.Output<string>;
  readonly provider: k8s.Provider;

  constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:EksCluster", name, {}, opts);
    const parent = { parent: this };
    // EKS and the controller add tags of their own to the network; leave those alone.
    const network = { parent: this, ignoreChanges: ["tags"] };
    const tags = (suffix: string) => ({ Name: `${args.clusterName}-${suffix}` });

    this.vpc = new aws.ec2.Vpc(`${name}-vpc`, {
      cidrBlock: VPC_CIDR, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc"),
    }, network);
    const zones = aws.getAvailabilityZonesOutput({ state: "available" }, parent);
    const gateway = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: this.vpc.id, tags: tags("igw") }, network);
    const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, {
      vpcId: this.vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }], tags: tags("public"),
    }, network);

    // The zone list is read again on every run, but a subnet keeps the zone it was created in: a
    // shifted list (a zone unavailable for a while) would replace subnets create-first, into CIDRs
    // their predecessors still hold.
    const subnetOpts = { ...network, ignoreChanges: [...network.ignoreChanges, "availabilityZone"] };
    const subnet = (kind: SubnetKind, zoneIndex: number, cidrBlock: string) => {
      const subnetName = `${args.clusterName}-${kind}-${zoneIndex}`;
      return new aws.ec2.Subnet(`${name}-${kind}-${zoneIndex}`, {
        vpcId: this.vpc.id,
        cidrBlock,
        availabilityZone: zones.names[zoneIndex],
        mapPublicIpOnLaunch: kind === "public",
        tags: subnetTags(kind, args.clusterName, subnetName),
      }, subnetOpts);
    };
    const publicSubnets = SUBNETS.map((s) => subnet("public", s.zoneIndex, s.publicCidr));
    const privateSubnets = SUBNETS.map((s) => subnet("private", s.zoneIndex, s.privateCidr));
    publicSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRoutes.id }, parent));

    // One NAT gateway for both zones: cheaper, at the price of zone redundancy for node egress.
    const natIp = new aws.ec2.Eip(`${name}-nat`, { domain: "vpc", tags: tags("nat") }, network);
    const nat = new aws.ec2.NatGateway(`${name}-nat`, {
      allocationId: natIp.id, subnetId: publicSubnets[0].id, tags: tags("nat"),
    }, { ...network, dependsOn: [gateway] });
    const privateRoutes = new aws.ec2.RouteTable(`${name}-private`, {
      vpcId: this.vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }], tags: tags("private"),
    }, network);
    privateSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: s.id, routeTableId: privateRoutes.id }, parent));

    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);

    // The EKS components run in their own plugin: they get the aws provider only when it is handed over.
    const awsProvider = this.getProvider("aws::");
    const remote = awsProvider ? { providers: { aws: awsProvider } } : {};

    this.cluster = new eks.Cluster(`${name}-eks`, {
      name: args.clusterName,
      vpcId: this.vpc.id,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
      authenticationMode: eks.AuthenticationMode.Api,
      createOidcProvider: true,
      skipDefaultNodeGroup: true,
      tags: args.tags,
    }, { parent: this, ...remote, dependsOn: [privateRoutes, publicRoutes] });

    const nodeRole = new aws.iam.Role(`${name}-node-role`, { assumeRolePolicy: JSON.stringify(ec2AssumeRolePolicy()) }, parent);
    const attachments = NODE_ROLE_POLICY_ARNS.map((policyArn, i) =>
      new aws.iam.RolePolicyAttachment(`${name}-node-policy-${i}`, { role: nodeRole.name, policyArn }, parent));

    this.nodeGroup = new eks.ManagedNodeGroup(`${name}-nodes`, {
      cluster: this.cluster,
      nodeRole,
      instanceTypes: [args.instanceType],
      subnetIds: this.privateSubnetIds,
      scalingConfig: { desiredSize: args.nodeCount, minSize: args.nodeCount, maxSize: args.nodeCount },
      tags: args.tags,
    }, { parent: this, ...remote, dependsOn: attachments });

    this.kubeconfig = pulumi.secret(this.cluster.kubeconfigJson);
    // No deleteUnreachable: a missing access entry or an expired token must fail the operation, not
    // drop the Ingress from the state while its ALB lives on (README: PULUMI_K8S_DELETE_UNREACHABLE).
    this.provider = new k8s.Provider(`${name}-k8s`, {
      kubeconfig: this.kubeconfig,
      clusterIdentifier: eksClusterIdentifier(args.region, args.clusterName),
      ...MUTABLE_DATA,
    }, { parent: this, dependsOn: [this.nodeGroup] });
    this.registerOutputs({ clusterName: args.clusterName, vpcId: this.vpc.id });
  }
}
