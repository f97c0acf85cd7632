/**
 * Turns a raw capture of test/tools/flux-record-proxy.ts into a wire fixture: every message keeps
 * its exact bytes (hex, outer header included) next to its decoded fields, decoded with the
 * project's codec. Payloads are kept as text so 64-bit ids stay exact.
 *
 *   npx tsx test/tools/flux-capture-to-fixture.ts --in raw.json --out fixture.json \
 *       --flux-version "$(flux getattr version)" --commands "flux submit ..." [--setup "..."]
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { FRAME_HEADER_SIZE, type FluxMessage, decodeMessage, decodeStringPayload } from "../../sidecar/flux/codec";
import type { RawCaptureRecord } from "./flux-record-proxy";

export interface CapturedMessage {
  conn: number;
  dir: "c2s" | "s2c";
  t: number;
  kind: "handshake" | "message";
  hex: string;
  /** the codec's fields, with the payload as text (without its trailing NUL: JSON, or an error string) */
  decoded?: Omit<FluxMessage, "payload"> & { payload?: string };
}

export interface CaptureFixture {
  fluxCoreVersion: string;
  setup: string;
  commands: string;
  capturedWith: string;
  messages: CapturedMessage[];
}

export function decodeRecord(r: RawCaptureRecord): CapturedMessage {
  if (r.kind === "handshake") return { ...r };
  const msg = decodeMessage(Buffer.from(r.hex, "hex").subarray(FRAME_HEADER_SIZE));
  const decoded: CapturedMessage["decoded"] = { type: msg.type, flags: msg.flags, userid: msg.userid, rolemask: msg.rolemask, aux1: msg.aux1, aux2: msg.aux2 };
  if (msg.routes) decoded.routes = msg.routes;
  if (msg.topic !== undefined) decoded.topic = msg.topic;
  if (msg.payload) decoded.payload = decodeStringPayload(msg.payload);
  return { ...r, decoded };
}

/** Pretty header, one message per line: readable diffs without tripling the size. */
function formatFixture(f: CaptureFixture): string {
  const { messages, ...header } = f;
  const head = JSON.stringify(header, null, 1).replace(/\n}$/, "");
  return `${head},\n "messages": [\n${messages.map((m) => "  " + JSON.stringify(m)).join(",\n")}\n ]\n}\n`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      in: { type: "string" },
      out: { type: "string" },
      "flux-version": { type: "string" },
      commands: { type: "string" },
      setup: { type: "string", default: "flux start --test-size=4 (4 brokers on one host, 2 cores each), built without flux-security" },
    },
  });
  if (!values.in || !values.out || !values["flux-version"] || !values.commands) {
    process.stderr.write("usage: flux-capture-to-fixture --in RAW.json --out FIXTURE.json --flux-version V --commands TEXT\n");
    process.exit(2);
  }
  const raw = JSON.parse(fs.readFileSync(values.in, "utf8")) as { records: RawCaptureRecord[] };
  const fixture: CaptureFixture = {
    fluxCoreVersion: values["flux-version"],
    setup: values.setup!,
    commands: values.commands,
    capturedWith: "test/tools/flux-record-proxy.ts between the flux CLI (FLUX_URI=local://<proxy>) and the broker's local-0 socket",
    messages: raw.records.map(decodeRecord),
  };
  fs.writeFileSync(values.out, formatFixture(fixture));
}

if (require.main === module) main();
