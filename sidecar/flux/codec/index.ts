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
  type FluxMessage,
} from "./message";
export { FRAME_MAGIC, FRAME_HEADER_SIZE, DEFAULT_MAX_MESSAGE_BYTES, frameMessage, MessageReader } from "./framing";
export { encodeJsonPayload, encodeStringPayload, decodeJsonPayload, decodeStringPayload } from "./payload";
export { signNone, unwrapNone } from "./sign";
export { FluxProtocolError } from "../errors";
