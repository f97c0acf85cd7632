/** The Flux wire codec: pure functions over bytes, no sockets. */
export {
  MessageType,
  MessageFlags,
  USERID_UNKNOWN,
  ROLE_NONE,
  NODEID_ANY,
  PROTO_SIZE,
  encodeMessage,
  decodeMessage,
  decodeProto,
  type FluxMessage,
} from "./message";
export {
  FRAME_MAGIC,
  FRAME_HEADER_SIZE,
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_SKIPPABLE_BYTES,
  frameMessage,
  MessageReader,
  type MessageSink,
  type OversizedMessage,
} from "./framing";
export { encodeJsonPayload, encodeStringPayload, decodeJsonPayload, decodeStringPayload } from "./payload";
export { signNone, unwrapNone } from "./sign";
export { FluxProtocolError } from "../errors";
