/** Pure builders for the EKS side: the VPC layout, the load-balancer discovery tags and the node role. */
import type { PolicyDocument } from "./lb-controller.build";

/**
 * The Kubernetes provider's `clusterIdentifier`: region and cluster name, known from config before
 * anything exists, so a new endpoint or CA in the kubeconfig updates the provider in place.
 */
export function eksClusterIdentifier(region: string, clusterName: string): string {
  return `${region}/${clusterName}`;
}

export const VPC_CIDR = "10.0.0.0/16";

/** Two zones: an ALB needs subnets in at least two availability zones. */
export const SUBNETS = [
  { zoneIndex: 0, publicCidr: "10.0.0.0/20", privateCidr: "10.0.64.0/18" },
  { zoneIndex: 1, publicCidr: "10.0.16.0/20", privateCidr: "10.0.128.0/18" },
] as const;

export type SubnetKind = "public" | "private";

/**
 * The tags the load balancer controller discovers subnets by: `role/elb` for internet-facing load
 * balancers, `role/internal-elb` for internal ones; the cluster tag marks them as shared with it.
 */
export function subnetTags(kind: SubnetKind, clusterName: string, name: string): Record<string, string> {
  return {
    Name: name,
    [kind === "public" ? "kubernetes.io/role/elb" : "kubernetes.io/role/internal-elb"]: "1",
    [`kubernetes.io/cluster/${clusterName}`]: "shared",
  };
}

/** The AWS-managed policies every EKS worker node needs. */
export const NODE_ROLE_POLICY_ARNS = [
  "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
  "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
  "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
] as const;

export function ec2AssumeRolePolicy(): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: ["sts:AssumeRole"], Principal: { Service: "ec2.amazonaws.com" } }],
  };
}
