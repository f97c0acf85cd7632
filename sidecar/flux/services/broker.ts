/** Broker-level services: broker.ping and attr.get (flux-core broker/attr.c, libflux/method.c). */
import { expandHostlist } from "../hostlist";
import { field, isNumber, isString, type Rpc } from "./rpc";

export interface PingResult {
  userid: number;
  rolemask: number;
  rank: number;
  route: string;
}

export interface BrokerInfo {
  size: number;
  hostlist: string[];
  version: string;
  owner: number;
}

/** Rolemask bits (flux-core message.h). */
export const Role = { OWNER: 1, USER: 2, LOCAL: 4, ADMIN: 8 } as const;

export async function ping(rpc: Rpc): Promise<PingResult> {
  const topic = "broker.ping";
  const reply = await rpc.call(topic, { seq: 0, pad: "" }); // a payload is required (EPROTO without)
  return {
    userid: field(reply, "userid", isNumber, topic),
    rolemask: field(reply, "rolemask", isNumber, topic),
    rank: field(reply, "rank", isNumber, topic),
    route: field(reply, "route", isString, topic),
  };
}

/** An attribute's value (always a string); FluxError ENOENT for an unknown name. */
export async function getAttr(rpc: Rpc, name: string, opts: { nodeid?: number } = {}): Promise<string> {
  const reply = await rpc.call("attr.get", { name }, opts);
  return field(reply, "value", isString, "attr.get");
}

function parseUnsigned(text: string, name: string): number {
  if (!/^\d+$/.test(text)) throw new TypeError(`attr.get: attribute ${name}="${text}" is not an unsigned integer`);
  return Number(text);
}

export async function brokerInfo(rpc: Rpc): Promise<BrokerInfo> {
  const [size, hostlist, version, owner] = await Promise.all(["size", "hostlist", "version", "security.owner"].map((n) => getAttr(rpc, n)));
  return {
    size: parseUnsigned(size, "size"),
    hostlist: expandHostlist(hostlist),
    version,
    owner: parseUnsigned(owner, "security.owner"),
  };
}
