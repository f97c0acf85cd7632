/**
 * Flux message encoding (flux-core message.c / message_iovec.c): a sequence of frames, each
 * prefixed by its size (one byte if < 255, else 0xff + BE u32), in the order
 * [route ids..., empty delimiter] (ROUTE flag) [topic] (TOPIC) [payload] (PAYLOAD) [proto],
 * where proto is always the last, 20-byte frame. Pure: no sockets, no JSON.
 */
import { FluxProtocolError } from "../errors";

export const MessageType = { REQUEST: 1, RESPONSE: 2, EVENT: 4, CONTROL: 8 } as const;

export const MessageFlags = {
  TOPIC: 0x01,
  PAYLOAD: 0x02,
  NORESPONSE: 0x04,
  ROUTE: 0x08,
  UPSTREAM: 0x10,
  PRIVATE: 0x20,
  STREAMING: 0x40,
  USER1: 0x80,
} as const;

/** userid a client sends so the broker stamps its authenticated uid (FLUX_USERID_UNKNOWN). */
export const USERID_UNKNOWN = 0xffffffff;
/** rolemask a client sends so the broker stamps the connection's roles (FLUX_ROLE_NONE). */
export const ROLE_NONE = 0;
/** Request nodeid: any broker that provides the service (FLUX_NODEID_ANY). */
export const NODEID_ANY = 0xffffffff;

export interface FluxMessage {
  type: number;
  flags: number;
  userid: number;
  rolemask: number;
  /** request: nodeid; response: errnum; event: sequence; control: control type */
  aux1: number;
  /** request/response: matchtag; control: status */
  aux2: number;
  /** route ids, most recent hop first; present iff the ROUTE flag is set */
  routes?: string[];
  /** present iff the TOPIC flag is set (sent without a NUL) */
  topic?: string;
  /**
   * The payload frame's raw bytes, present iff the PAYLOAD flag is set. JSON and string
   * payloads include their trailing NUL here exactly as on the wire; use payload.ts to
   * convert (encodeJsonPayload / decodeJsonPayload / decodeStringPayload).
   */
  payload?: Buffer;
}

export const PROTO_SIZE = 20;
const PROTO_MAGIC = 0x8e;
const PROTO_VERSION = 1;
const VALID_TYPES = new Set<number>(Object.values(MessageType));

function frameSizeLength(size: number): number {
  return size < 255 ? 1 : 5;
}

function writeFrameSize(buf: Buffer, offset: number, size: number): number {
  if (size < 255) {
    buf[offset] = size;
    return offset + 1;
  }
  buf[offset] = 0xff;
  buf.writeUInt32BE(size, offset + 1);
  return offset + 5;
}

function checkFlags(type: number, flags: number): void {
  if (!VALID_TYPES.has(type)) throw new FluxProtocolError(`invalid message type ${type}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new FluxProtocolError(`invalid message flags ${flags}`);
  if (flags & MessageFlags.NORESPONSE && flags & MessageFlags.STREAMING) {
    throw new FluxProtocolError("message flags NORESPONSE and STREAMING are mutually exclusive");
  }
}

/** Encodes a message into frames (no outer 8-byte header; see frameMessage). */
export function encodeMessage(msg: FluxMessage): Buffer {
  checkFlags(msg.type, msg.flags);
  const hasRoute = (msg.flags & MessageFlags.ROUTE) !== 0;
  const hasTopic = (msg.flags & MessageFlags.TOPIC) !== 0;
  const hasPayload = (msg.flags & MessageFlags.PAYLOAD) !== 0;
  if (hasTopic !== (msg.topic !== undefined)) throw new FluxProtocolError("TOPIC flag and topic disagree");
  if (hasPayload !== (msg.payload !== undefined)) throw new FluxProtocolError("PAYLOAD flag and payload disagree");
  if (!hasRoute && msg.routes !== undefined) throw new FluxProtocolError("routes given without the ROUTE flag");

  const routes = hasRoute ? (msg.routes ?? []).map((r) => Buffer.from(r, "utf8")) : [];
  const topic = hasTopic ? Buffer.from(msg.topic!, "utf8") : undefined;
  let size = PROTO_SIZE + 1;
  for (const r of routes) {
    if (r.length === 0) throw new FluxProtocolError("route ids must not be empty");
    size += frameSizeLength(r.length) + r.length;
  }
  if (hasRoute) size += 1; // empty delimiter frame
  if (topic) size += frameSizeLength(topic.length) + topic.length;
  if (msg.payload) size += frameSizeLength(msg.payload.length) + msg.payload.length;

  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const r of routes) {
    off = writeFrameSize(buf, off, r.length);
    off += r.copy(buf, off);
  }
  if (hasRoute) buf[off++] = 0;
  if (topic) {
    off = writeFrameSize(buf, off, topic.length);
    off += topic.copy(buf, off);
  }
  if (msg.payload) {
    off = writeFrameSize(buf, off, msg.payload.length);
    off += msg.payload.copy(buf, off);
  }
  buf[off++] = PROTO_SIZE;
  buf[off++] = PROTO_MAGIC;
  buf[off++] = PROTO_VERSION;
  buf[off++] = msg.type;
  buf[off++] = msg.flags;
  buf.writeUInt32BE(msg.userid >>> 0, off);
  buf.writeUInt32BE(msg.rolemask >>> 0, off + 4);
  buf.writeUInt32BE(msg.aux1 >>> 0, off + 8);
  buf.writeUInt32BE(msg.aux2 >>> 0, off + 12);
  return buf;
}

/** Splits the encoded message into [start, end) frame ranges. */
function splitFrames(body: Buffer): Array<[number, number]> {
  const frames: Array<[number, number]> = [];
  let off = 0;
  while (off < body.length) {
    let size = body[off];
    let start = off + 1;
    if (size === 0xff) {
      if (off + 5 > body.length) throw new FluxProtocolError("truncated frame size");
      size = body.readUInt32BE(off + 1);
      start = off + 5;
    }
    const end = start + size;
    if (end > body.length) throw new FluxProtocolError(`frame of ${size} bytes overruns the message`);
    frames.push([start, end]);
    off = end;
  }
  return frames;
}

/** The header fields a message's 20-byte proto frame carries. Throws FluxProtocolError. */
export function decodeProto(proto: Buffer): FluxMessage {
  if (proto[0] !== PROTO_MAGIC) throw new FluxProtocolError(`bad proto magic 0x${proto[0].toString(16)}`);
  if (proto[1] !== PROTO_VERSION) throw new FluxProtocolError(`unsupported proto version ${proto[1]}`);
  const type = proto[2];
  const flags = proto[3];
  checkFlags(type, flags);
  return {
    type,
    flags,
    userid: proto.readUInt32BE(4),
    rolemask: proto.readUInt32BE(8),
    aux1: proto.readUInt32BE(12),
    aux2: proto.readUInt32BE(16),
  };
}

/** Decodes an encoded message (without the outer header). Throws FluxProtocolError. */
export function decodeMessage(body: Buffer): FluxMessage {
  const frames = splitFrames(body);
  if (frames.length === 0) throw new FluxProtocolError("empty message");
  const [protoStart, protoEnd] = frames[frames.length - 1];
  if (protoEnd - protoStart !== PROTO_SIZE) {
    throw new FluxProtocolError(`proto frame is ${protoEnd - protoStart} bytes, expected ${PROTO_SIZE}`);
  }
  const msg: FluxMessage = decodeProto(body.subarray(protoStart, protoEnd));
  const flags = msg.flags;
  const last = frames.length - 1;
  let i = 0;
  if (flags & MessageFlags.ROUTE) {
    const routes: string[] = [];
    while (i < last && frames[i][1] > frames[i][0]) {
      routes.push(body.toString("utf8", frames[i][0], frames[i][1]));
      i++;
    }
    if (i === last) throw new FluxProtocolError("ROUTE flag set but no route delimiter frame");
    i++;
    msg.routes = routes;
  }
  if (flags & MessageFlags.TOPIC) {
    if (i === last) throw new FluxProtocolError("TOPIC flag set but topic frame missing");
    let [start, end] = frames[i++];
    if (end > start && body[end - 1] === 0) end--; // tolerated, like libflux's strndup
    msg.topic = body.toString("utf8", start, end);
  }
  if (flags & MessageFlags.PAYLOAD) {
    if (i === last) throw new FluxProtocolError("PAYLOAD flag set but payload frame missing");
    const [start, end] = frames[i++];
    msg.payload = body.subarray(start, end);
  }
  if (i !== last) throw new FluxProtocolError(`${last - i} unexpected frame(s) before the proto frame`);
  return msg;
}
