/** The Python client's token handshake, done by hand so tests can also forge every wrong variant. */
import { SignJWT } from "jose";

export interface Credentials {
  user: string;
  token: string;
  secretKey: string;
}

/** HS256 JWT of {user, pass, scope:"token"} signed with the shared secret, as flux-restful-client builds it. */
export function tokenRequestJwt(creds: Credentials, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ user: creds.user, pass: creds.token, scope: "token", ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(creds.secretKey));
}

/** POST /v1/token with a valid request JWT; returns the access token or throws with the server's answer. */
export async function fetchAccessToken(baseUrl: string, creds: Credentials): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenRequestJwt(creds)}` },
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /v1/token answered ${res.status}: ${text}`);
  const body = JSON.parse(text) as { access_token?: unknown };
  if (typeof body.access_token !== "string") throw new Error(`POST /v1/token gave no access_token: ${text}`);
  return body.access_token;
}

/** Random credentials per run, so a scan for them in logs or job environments cannot match by accident. */
export function randomCredentials(): Credentials {
  const hex = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
  return { user: `user${hex(3)}`, token: `tok-${hex(12)}`, secretKey: `key-${hex(24)}` };
}
