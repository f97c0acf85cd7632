import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import {
  KEY_ALGORITHM,
  ServerNames,
  caCertificateArgs,
  serverCertRequestArgs,
  serverCertificateArgs,
} from "./stack-tls.build";

export interface StackTlsArgs {
  /** The stack's name, in the certificates' subjects. */
  stack: string;
  /** The names clients connect to (Outputs: a node IP is only known once the node exists). */
  names: ServerNames<pulumi.Input<string>>;
}

/** A CA of the stack's own and the API's server certificate signed by it (keys kept in the state, secret). */
export class StackTls extends pulumi.ComponentResource {
  /** PEM; public: what clients trust. */
  readonly caCertificate: pulumi.Output<string>;
  readonly certificate: pulumi.Output<string>;
  readonly privateKey: pulumi.Output<string>;

  constructor(name: string, args: StackTlsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("flux-restful:index:StackTls", name, {}, opts);
    const parent = { parent: this };
    const caKey = new tls.PrivateKey(`${name}-ca-key`, KEY_ALGORITHM, parent);
    const ca = new tls.SelfSignedCert(`${name}-ca`, { privateKeyPem: caKey.privateKeyPem, ...caCertificateArgs(args.stack) }, parent);
    const serverKey = new tls.PrivateKey(`${name}-server-key`, KEY_ALGORITHM, parent);
    const request = new tls.CertRequest(`${name}-server-request`,
      { privateKeyPem: serverKey.privateKeyPem, ...serverCertRequestArgs(args.stack, args.names) }, parent);
    const server = new tls.LocallySignedCert(`${name}-server`, {
      certRequestPem: request.certRequestPem,
      caPrivateKeyPem: caKey.privateKeyPem,
      caCertPem: ca.certPem,
      ...serverCertificateArgs(),
    }, parent);
    this.caCertificate = ca.certPem;
    this.certificate = server.certPem;
    // The provider marks it secret in the engine only; wrap it so every use in the program stays secret too.
    this.privateKey = pulumi.secret(serverKey.privateKeyPem);
    this.registerOutputs({ caCertificate: this.caCertificate });
  }
}
