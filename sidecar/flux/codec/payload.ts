/**
 * Payload conventions (flux-core flux_msg_set_string / flux_msg_get_string): JSON and string
 * payloads carry a trailing NUL byte on the wire, and receivers reject a payload without it.
 * JSON payloads are objects; error responses may carry a NUL-terminated plain-text message.
 */
import { FluxProtocolError } from "../errors";
import { parseJson, stringifyJson } from "../json";

/** JSON text (lossless for bigint) + NUL, ready to be a request's payload frame. */
export function encodeJsonPayload(value: object): Buffer {
  return encodeStringPayload(stringifyJson(value));
}

/** UTF-8 text + NUL. */
export function encodeStringPayload(text: string): Buffer {
  const len = Buffer.byteLength(text, "utf8");
  const buf = Buffer.allocUnsafe(len + 1);
  buf.write(text, 0, "utf8");
  buf[len] = 0;
  return buf;
}

/** The text of a NUL-terminated string payload, without its NUL; "" when there is no payload. */
export function decodeStringPayload(payload: Buffer | undefined): string {
  if (!payload || payload.length === 0) return "";
  const end = payload[payload.length - 1] === 0 ? payload.length - 1 : payload.length;
  return payload.toString("utf8", 0, end);
}

/**
 * Parses a NUL-terminated JSON object payload (lossless: big integers become bigint).
 * A missing payload decodes as {} (services reply to some requests with no payload).
 */
export function decodeJsonPayload(payload: Buffer | undefined): Record<string, unknown> {
  const text = decodeStringPayload(payload);
  if (text === "") return {};
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (err) {
    throw new FluxProtocolError(`payload is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FluxProtocolError("payload is not a JSON object");
  }
  return value as Record<string, unknown>;
}
