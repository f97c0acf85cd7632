/** The part of RpcClient that services use: services never see sockets. */
import type { RpcClient } from "../rpc";

export type Rpc = Pick<RpcClient, "call" | "callBytes" | "stream">;

/** Reads a required field of a broker reply, failing clearly when the broker sent something else. */
export function field<T>(reply: Record<string, unknown>, key: string, check: (v: unknown) => v is T, topic: string): T {
  const value = reply[key];
  if (!check(value)) throw new TypeError(`${topic}: reply field "${key}" is missing or malformed`);
  return value;
}

export const isString = (v: unknown): v is string => typeof v === "string";
export const isNumber = (v: unknown): v is number => typeof v === "number";
export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
