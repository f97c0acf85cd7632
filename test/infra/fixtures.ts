/** Test data written for these tests: a small manifest shaped like a Flux Operator release asset. */
import { FLUX_OPERATOR } from "../../components/flux-operator.build";

const r = FLUX_OPERATOR;

export const OPERATOR_MANIFEST = `apiVersion: v1
kind: Namespace
metadata:
  name: ${r.namespace}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${r.crdName}
spec:
  group: flux-framework.org
  names: { kind: MiniCluster, plural: miniclusters }
  scope: Namespaced
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: operator-manager-role
rules: [{ apiGroups: [flux-framework.org], resources: [miniclusters], verbs: [get, list, watch] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: operator-metrics-reader
rules: [{ nonResourceURLs: [/metrics], verbs: [get] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: operator-proxy-role
rules: [{ apiGroups: [authentication.k8s.io], resources: [tokenreviews], verbs: [create] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: operator-proxy-rolebinding
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: operator-proxy-role }
subjects: [{ kind: ServiceAccount, name: operator-controller-manager, namespace: ${r.namespace} }]
---
apiVersion: v1
kind: Service
metadata:
  name: operator-controller-manager-metrics-service
  namespace: ${r.namespace}
spec:
  ports: [{ name: https, port: 8443, targetPort: https }]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${r.deploymentName}
  namespace: ${r.namespace}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: kube-rbac-proxy
          image: gcr.io/kubebuilder/kube-rbac-proxy:v0.11.0
        - name: manager
          image: ghcr.io/flux-framework/flux-operator:latest
          imagePullPolicy: Always
          command: [/manager]
`;

/** Stands in for dist/sidecar.js. */
export const FAKE_BUNDLE = "// fake sidecar bundle for tests\nconsole.log('sidecar');\n";

export const TWO_CONTEXT_KUBECONFIG = `apiVersion: v1
kind: Config
current-context: kind-dev
contexts:
  - name: kind-dev
    context: { cluster: kind-dev, user: kind-dev }
  - name: prod
    context: { cluster: prod, user: prod-admin }
clusters:
  - name: kind-dev
    cluster: { server: "https://127.0.0.1:6443" }
  - name: prod
    cluster: { server: "https://203.0.113.9" }
users:
  - name: kind-dev
    user: { token: dev-token }
  - name: prod-admin
    user: { token: prod-secret-token }
`;
