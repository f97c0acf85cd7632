/**
 * Settings every stack gives its Kubernetes provider.
 *
 * MUTABLE_DATA: pulumi-kubernetes (4.34, provider/pkg/provider/diff.go, forceNewProperties) replaces
 * a Secret whose `data`/`stringData`/`type` change and a ConfigMap whose `data`/`binaryData` change,
 * unless these are set (or the object is `immutable`). The bundle ConfigMap and the credentials
 * Secret must change in place: the kubelet then updates the files mounted from them in the running
 * pods, where a replacement would delete them first. Changing these settings on an existing provider
 * updates it in place (its clusterIdentifier is unchanged), replacing nothing.
 */
export const MUTABLE_DATA = { enableConfigMapMutable: true, enableSecretMutable: true } as const;
