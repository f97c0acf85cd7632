/**
 * Offline evaluation of the program: Pulumi mocks that stand in for every cloud and cluster call,
 * record each resource the program declares, and fill the outputs the program reads back (with
 * documentation addresses and obviously fake values). Used by `npm run plan` and by the tests.
 */
import * as pulumi from "@pulumi/pulumi";

export interface DeclaredResource {
  type: string;
  name: string;
  /** Inputs as the engine would receive them; secret values are wrapped (see isSecretValue). */
  inputs: Record<string, any>;
  /** The provider reference ("<urn>::<id>") for custom resources; absent for components. */
  provider?: string;
}

/** The SDK's wire encoding of a secret inside deserialized inputs. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Deep copy with every secret replaced by `mask(path)` and resource references by their type and name. */
export function maskSecrets(value: unknown, mask: (path: string, secret: unknown) => unknown, path = ""): any {
  if (isSecretValue(value)) return mask(path, value.value);
  if (pulumi.Resource.isInstance(value)) {
    const ref = value as unknown as { __pulumiType: string; __name: string };
    return `<${ref.__pulumiType} ${ref.__name}>`;
  }
  if (Array.isArray(value)) return value.map((v, i) => maskSecrets(v, mask, `${path}[${i}]`));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, mask, path ? `${path}.${k}` : k)]));
  }
  return value;
}

type FakeOutputs = (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown>;

/** A PEM block whose body names what it stands for (not parseable DER: nothing offline needs to parse it). */
export function fakePem(label: string, what: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(`offline ${what}`).toString("base64")}\n-----END ${label}-----\n`;
}
type FakeCall = (inputs: any) => Record<string, unknown>;

/** Fake outputs the program reads back, by resource type. */
const OUTPUTS: Record<string, FakeOutputs> = {
  "gcp:container/cluster:Cluster": (a) => ({
    endpoint: "203.0.113.10",
    network: "default",
    masterAuth: { clusterCaCertificate: Buffer.from("offline CA certificate").toString("base64") },
    location: a.inputs.location,
  }),
  "gcp:container/nodePool:NodePool": (a) => ({
    managedInstanceGroupUrls: [`https://www.googleapis.com/compute/v1/projects/offline/zones/zone/instanceGroups/gke-${a.name}-grp`],
  }),
  "gcp:serviceaccount/account:Account": (a) => ({
    email: `${a.inputs.accountId}@${a.inputs.project}.iam.gserviceaccount.com`,
    member: `serviceAccount:${a.inputs.accountId}@${a.inputs.project}.iam.gserviceaccount.com`,
  }),
  "eks:index:Cluster": (a) => ({
    kubeconfigJson: JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: a.inputs.name,
        cluster: { server: "https://OFFLINE.gr7.us-east-2.eks.amazonaws.com", "certificate-authority-data": Buffer.from("offline CA").toString("base64") },
      }],
    }),
    oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-2.amazonaws.com/id/OFFLINE",
    oidcIssuer: "oidc.eks.us-east-2.amazonaws.com/id/OFFLINE",
  }),
  "aws:iam/role:Role": (a) => ({ arn: `arn:aws:iam::123456789012:role/${a.name}`, name: a.name }),
  "aws:iam/policy:Policy": (a) => ({ arn: `arn:aws:iam::123456789012:policy/${a.name}` }),
  "random:index/randomPassword:RandomPassword": (a) => ({ result: `offline-${a.name}` }),
  "tls:index/privateKey:PrivateKey": (a) => ({
    privateKeyPem: fakePem("PRIVATE KEY", a.name),
    publicKeyPem: fakePem("PUBLIC KEY", a.name),
  }),
  "tls:index/selfSignedCert:SelfSignedCert": (a) => ({ certPem: fakePem("CERTIFICATE", a.name) }),
  "tls:index/certRequest:CertRequest": (a) => ({ certRequestPem: fakePem("CERTIFICATE REQUEST", a.name) }),
  "tls:index/locallySignedCert:LocallySignedCert": (a) => ({ certPem: fakePem("CERTIFICATE", a.name) }),
  "aws:acm/certificate:Certificate": (a) => ({ arn: `arn:aws:acm:us-east-2:123456789012:certificate/offline-${a.name}` }),
  "kubernetes:networking.k8s.io/v1:Ingress": () => ({
    status: { loadBalancer: { ingress: [{ hostname: "k8s-offline-0123456789.us-east-2.elb.amazonaws.com" }] } },
  }),
};

const CALLS: Record<string, FakeCall> = {
  "gcp:compute/getInstanceGroup:getInstanceGroup": () => ({
    instances: ["https://www.googleapis.com/compute/v1/projects/offline/zones/zone/instances/gke-node-0"],
  }),
  "gcp:compute/getInstance:getInstance": () => ({ networkInterfaces: [{ accessConfigs: [{ natIp: "198.51.100.7" }] }] }),
  "aws:index/getAvailabilityZones:getAvailabilityZones": () => ({ names: ["zone-a", "zone-b", "zone-c"] }),
};

/**
 * Answers that differ from the defaults above: outputs replace the default fields of their resource
 * type, calls replace whole invoke answers. How a test models a later day (a rotated endpoint, a
 * changed zone list).
 */
export interface Fakes {
  outputs?: Record<string, FakeOutputs>;
  calls?: Record<string, FakeCall>;
}

/** Installs the mocks for one evaluation; returns the list the declared resources are appended to. */
export async function installOfflineMocks(project: string, stack: string, fakes: Fakes = {}): Promise<DeclaredResource[]> {
  const declared: DeclaredResource[] = [];
  const calls = { ...CALLS, ...fakes.calls };
  await pulumi.runtime.setMocks({
    newResource(args) {
      declared.push({ type: args.type, name: args.name, inputs: args.inputs, ...(args.provider ? { provider: args.provider } : {}) });
      const outputs = { ...OUTPUTS[args.type]?.(args), ...fakes.outputs?.[args.type]?.(args) };
      return { id: `${args.name}-id`, state: { ...args.inputs, ...outputs } };
    },
    call(args) {
      const answer = calls[args.token];
      // A silent default would hand the program wrongly shaped data; fail loudly instead.
      if (!answer) throw new Error(`offline mocks: no answer for invoke ${args.token}`);
      return answer(args.inputs);
    },
  }, project, stack, false);
  return declared;
}

/** Resolves once every registration the program started has reached the mocks. */
export async function settle(): Promise<void> {
  // waitForRPCs is public at run time but marked internal in the SDK's typings.
  const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  await settings.waitForRPCs();
}

/** Waits for an output's value; rejects instead of hanging when it never resolves. */
export function valueOf<T>(output: pulumi.Output<T> | T, ms = 10_000): Promise<T> {
  if (!pulumi.Output.isInstance(output)) return Promise.resolve(output as T);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("output never resolved (unknown or rejected)")), ms);
    output.apply((v) => {
      clearTimeout(timer);
      resolve(v);
      return v;
    });
  });
}
