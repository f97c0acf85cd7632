/**
 * Pure builders for the AWS Load Balancer Controller: its IAM policy (the permissions of the
 * controller's v3.5.0 `docs/install/iam_policy.json`, re-expressed here by intent), the IRSA trust
 * policy and the Helm values. One constant holds the service account, used by both the trust policy
 * and the chart, because a mismatch is the classic "not authorized to AssumeRoleWithWebIdentity".
 */

export const LB_CONTROLLER = {
  appVersion: "v3.5.0",
  chart: "aws-load-balancer-controller",
  chartVersion: "3.5.0",
  repository: "https://aws.github.io/eks-charts",
  namespace: "kube-system",
  serviceAccount: "aws-load-balancer-controller",
} as const;

export interface PolicyStatement {
  Effect: "Allow";
  Action: string[];
  /** Permission policies name resources; trust policies name a principal instead. */
  Resource?: string | string[];
  Principal?: Record<string, string>;
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** The tag the controller puts on everything it creates, so it may only change its own resources. */
const CLUSTER_TAG = "elbv2.k8s.aws/cluster";
const requestTagged = { [`aws:RequestTag/${CLUSTER_TAG}`]: "false" };
const resourceTagged = { [`aws:ResourceTag/${CLUSTER_TAG}`]: "false" };
/** Changing tags on a resource the controller owns, without the request re-tagging it. */
const retagOwned = { [`aws:RequestTag/${CLUSTER_TAG}`]: "true", [`aws:ResourceTag/${CLUSTER_TAG}`]: "false" };

const SECURITY_GROUPS = "arn:aws:ec2:*:*:security-group/*";
const ELB = "arn:aws:elasticloadbalancing:*:*";
const BALANCERS_AND_TARGET_GROUPS = [`${ELB}:targetgroup/*/*`, `${ELB}:loadbalancer/net/*/*`, `${ELB}:loadbalancer/app/*/*`];
const LISTENERS_AND_RULES = ["listener", "listener-rule"].flatMap((kind) => [`${ELB}:${kind}/net/*/*/*`, `${ELB}:${kind}/app/*/*/*`]);

const prefixed = (service: string, actions: string[]) => actions.map((a) => `${service}:${a}`);

const allow = (Action: string[], Resource: string | string[], Condition?: PolicyStatement["Condition"]): PolicyStatement =>
  Condition ? { Effect: "Allow", Action, Resource, Condition } : { Effect: "Allow", Action, Resource };

/** Read-only discovery of the network and of existing load balancers. */
const DISCOVERY = [
  ...prefixed("ec2", [
    "DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeInternetGateways",
    "DescribeVpcs", "DescribeVpcPeeringConnections", "DescribeSubnets", "DescribeSecurityGroups", "DescribeInstances",
    "DescribeNetworkInterfaces", "DescribeTags", "GetCoipPoolUsage", "DescribeCoipPools", "GetSecurityGroupsForVpc",
    "DescribeIpamPools", "DescribeRouteTables",
  ]),
  ...prefixed("elasticloadbalancing", [
    "DescribeLoadBalancers", "DescribeLoadBalancerAttributes", "DescribeListeners", "DescribeListenerCertificates",
    "DescribeSSLPolicies", "DescribeRules", "DescribeTargetGroups", "DescribeTargetGroupAttributes",
    "DescribeTargetHealth", "DescribeTags", "DescribeTrustStores", "DescribeListenerAttributes",
    "DescribeCapacityReservation",
  ]),
];

/** Certificates, Cognito, WAF and Shield integrations an Ingress can ask for. */
const INTEGRATIONS = [
  "cognito-idp:DescribeUserPoolClient",
  ...prefixed("acm", ["ListCertificates", "DescribeCertificate"]),
  ...prefixed("iam", ["ListServerCertificates", "GetServerCertificate"]),
  ...prefixed("waf-regional", ["GetWebACL", "GetWebACLForResource", "AssociateWebACL", "DisassociateWebACL"]),
  ...prefixed("wafv2", ["GetWebACL", "GetWebACLForResource", "AssociateWebACL", "DisassociateWebACL"]),
  ...prefixed("shield", ["GetSubscriptionState", "DescribeProtection", "CreateProtection", "DeleteProtection"]),
];

const SG_INGRESS_RULES = prefixed("ec2", ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"]);
const ELB_TAGGING = prefixed("elasticloadbalancing", ["AddTags", "RemoveTags"]);

export function buildLbControllerPolicy(): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      allow(["iam:CreateServiceLinkedRole"], "*", { StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" } }),
      allow(DISCOVERY, "*"),
      allow(INTEGRATIONS, "*"),
      // Security groups: create, tag only at creation or when already owned, edit/delete only owned ones.
      allow(SG_INGRESS_RULES, "*"),
      allow(["ec2:CreateSecurityGroup"], "*"),
      allow(["ec2:CreateTags"], SECURITY_GROUPS, { StringEquals: { "ec2:CreateAction": "CreateSecurityGroup" }, Null: requestTagged }),
      allow(["ec2:CreateTags", "ec2:DeleteTags"], SECURITY_GROUPS, { Null: retagOwned }),
      allow([...SG_INGRESS_RULES, "ec2:DeleteSecurityGroup"], "*", { Null: resourceTagged }),
      // Load balancers and target groups: created tagged, then changed only while owned.
      allow(prefixed("elasticloadbalancing", ["CreateLoadBalancer", "CreateTargetGroup"]), "*", { Null: requestTagged }),
      allow(prefixed("elasticloadbalancing", ["CreateListener", "DeleteListener", "CreateRule", "DeleteRule"]), "*"),
      allow(ELB_TAGGING, BALANCERS_AND_TARGET_GROUPS, { Null: retagOwned }),
      allow(ELB_TAGGING, LISTENERS_AND_RULES),
      allow(prefixed("elasticloadbalancing", [
        "ModifyLoadBalancerAttributes", "SetIpAddressType", "SetSecurityGroups", "SetSubnets", "DeleteLoadBalancer",
        "ModifyTargetGroup", "ModifyTargetGroupAttributes", "DeleteTargetGroup", "ModifyListenerAttributes",
        "ModifyCapacityReservation", "ModifyIpPools",
      ]), "*", { Null: resourceTagged }),
      allow(["elasticloadbalancing:AddTags"], BALANCERS_AND_TARGET_GROUPS, {
        StringEquals: { "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"] },
        Null: requestTagged,
      }),
      allow(prefixed("elasticloadbalancing", ["RegisterTargets", "DeregisterTargets"]), `${ELB}:targetgroup/*/*`),
      allow(prefixed("elasticloadbalancing", [
        "SetWebAcl", "ModifyListener", "AddListenerCertificates", "RemoveListenerCertificates", "ModifyRule",
        "SetRulePriorities",
      ]), "*"),
    ],
  };
}

export interface IrsaTrustInput {
  oidcProviderArn: string;
  /** The issuer without "https://", e.g. oidc.eks.us-east-2.amazonaws.com/id/ABC. */
  oidcIssuer: string;
  namespace: string;
  serviceAccount: string;
}

export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/** Lets exactly one Kubernetes service account assume the role, through the cluster's OIDC provider. */
export function buildIrsaTrustPolicy({ oidcProviderArn, oidcIssuer, namespace, serviceAccount }: IrsaTrustInput): PolicyDocument {
  const issuer = oidcIssuer.replace(/^https:\/\//, "");
  return {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: ["sts:AssumeRoleWithWebIdentity"],
      Principal: { Federated: oidcProviderArn },
      Condition: {
        StringEquals: {
          [`${issuer}:sub`]: serviceAccountSubject(namespace, serviceAccount),
          [`${issuer}:aud`]: "sts.amazonaws.com",
        },
      },
    }],
  };
}

export interface LbControllerValuesInput {
  clusterName: string;
  region: string;
  vpcId: string;
  roleArn: string;
}

export function buildLbControllerValues({ clusterName, region, vpcId, roleArn }: LbControllerValuesInput) {
  return {
    clusterName,
    // Given explicitly so the controller does not depend on the instance metadata service.
    region,
    vpcId,
    serviceAccount: {
      create: true,
      name: LB_CONTROLLER.serviceAccount,
      annotations: { "eks.amazonaws.com/role-arn": roleArn },
    },
    // Reuse the webhook certificate across upgrades instead of regenerating it on every render.
    keepTLSSecret: true,
    podDisruptionBudget: { maxUnavailable: 1 },
  };
}
