/**
 * Pure settings for the stack's own certificate authority and the API's server certificate: HTTPS
 * with no domain and no outside CA. Clients trust the CA from the stack output `caCertificate`.
 */

/** ECDSA P-256: accepted by the sidecar (Node), by ACM imports and by ALB listeners. */
export const KEY_ALGORITHM = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;

/** The CA outlives any stack; clients that saved it keep working across server certificate renewals. */
export const CA_VALIDITY_HOURS = 10 * 365 * 24;
export const SERVER_VALIDITY_HOURS = 2 * 365 * 24;
/** `pulumi up` in the last 30 days of the server certificate's life issues a new one. */
export const SERVER_EARLY_RENEWAL_HOURS = 30 * 24;

export function caCertificateArgs(stack: string) {
  return {
    subject: { commonName: `flux-restful ${stack} CA`, organization: "flux-restful" },
    isCaCertificate: true,
    validityPeriodHours: CA_VALIDITY_HOURS,
    allowedUses: ["cert_signing", "crl_signing"],
  };
}

/** What the server certificate names: IP SANs for a node address, DNS SANs for a host name. */
export interface ServerNames<T> {
  ipAddresses?: T[];
  dnsNames?: T[];
}

export function serverCertRequestArgs<T>(stack: string, names: ServerNames<T>) {
  return {
    subject: { commonName: `flux-restful ${stack} API`, organization: "flux-restful" },
    ...(names.ipAddresses ? { ipAddresses: names.ipAddresses } : {}),
    ...(names.dnsNames ? { dnsNames: names.dnsNames } : {}),
  };
}

export function serverCertificateArgs() {
  return {
    validityPeriodHours: SERVER_VALIDITY_HOURS,
    earlyRenewalHours: SERVER_EARLY_RENEWAL_HOURS,
    allowedUses: ["digital_signature", "server_auth"],
  };
}

/**
 * The ALB's name is only known after its Ingress exists, and the Ingress needs the certificate
 * first, so the certificate names every ALB of the region: ALB host names are one label under
 * `<region>.elb.amazonaws.com`, which a wildcard matches. Only clients that trust this stack's
 * CA accept it, and only this stack holds that CA's key.
 */
export function albServerNames(region: string): ServerNames<string> {
  return { dnsNames: [`*.${region}.elb.amazonaws.com`] };
}
