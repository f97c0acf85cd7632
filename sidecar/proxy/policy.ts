/**
 * Which broker requests a proxied client may send. A proxied client acts as the instance owner
 * (see docs/proxy.md); these topics go past what job submission already allows (running
 * commands as that user) to changing or stopping the instance itself, so they are refused by
 * default. Names are from flux-core 0.55 and 0.88 (src/broker, src/modules).
 */
import {
  MessageFlags,
  MessageType,
  encodeStringPayload,
  type FluxMessage,
} from "../flux/codec";

export const DEFAULT_DENIED_TOPICS: readonly string[] = [
  "shutdown.start", // flux shutdown: stops the instance
  "broker.insmod", // flux module load (0.55)
  "broker.rmmod", // flux module remove (0.55)
  "module.load", // flux module load (0.88)
  "module.remove", // flux module remove (0.88)
  "attr.set", // flux setattr: broker attributes (log levels, cleanup timeouts, ...)
  "attr.rm",
  "broker.setenv", // the broker's own environment (0.88)
  "config.load", // replaces the instance's configuration (0.55)
  "config.reload", // flux config reload: re-reads it from the broker's disk
  "runat.push", // commands the broker runs at its own cleanup
  "heaptrace.start", // writes files on the broker's filesystem
  "heaptrace.stop",
  "heaptrace.dump",
];

/** EPERM: what the broker itself answers a request the sender's role may not make. */
const EPERM = 1;
/** FLUX_ROLE_OWNER and FLUX_ROLE_LOCAL: what the broker stamps for the owner on its local connector. */
const ROLE_OWNER = 1;
const ROLE_LOCAL = 4;

export class TopicPolicy {
  readonly denied: ReadonlySet<string>;

  /** `allow`: topics taken off the default list (FLUX_PROXY_ALLOW_TOPICS). */
  constructor(allow: readonly string[] = []) {
    this.denied = new Set(DEFAULT_DENIED_TOPICS.filter((topic) => !allow.includes(topic)));
  }

  /** True when `msg` (as decoded, the form that is forwarded) is a request for a denied topic. */
  refuses(msg: FluxMessage): boolean {
    return msg.type === MessageType.REQUEST && msg.topic !== undefined && this.denied.has(msg.topic);
  }
}

/**
 * The broker's way of refusing a request: a response with the request's topic and matchtag,
 * errnum EPERM and an error string, so the client's RPC fails at once instead of waiting.
 * Built as flux_respond_error builds it (the request's flags and route stack kept), with the
 * credentials the broker stamps on what it sends the owner's connection: libflux drops a
 * response whose rolemask grants nothing, and the RPC would wait for ever.
 * A NORESPONSE request gets nothing (undefined), as from the broker.
 */
export function deniedResponse(request: FluxMessage, ownerUid: number): FluxMessage | undefined {
  if (request.flags & MessageFlags.NORESPONSE) return undefined;
  return {
    type: MessageType.RESPONSE,
    flags: request.flags | MessageFlags.PAYLOAD,
    userid: ownerUid,
    rolemask: ROLE_OWNER | ROLE_LOCAL,
    aux1: EPERM,
    aux2: request.aux2,
    routes: request.flags & MessageFlags.ROUTE ? (request.routes ?? []) : undefined,
    topic: request.topic,
    payload: encodeStringPayload(`${request.topic} is not allowed through the flux-restful proxy (FLUX_PROXY_ALLOW_TOPICS)`),
  };
}
