/**
 * The unit one client controls, for per-client limits: an IPv4 address, or an IPv6 /64 (a host
 * usually holds a whole /64, and could rotate through it to escape a per-address limit).
 */
import { isIPv6 } from "node:net";

export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!isIPv6(address)) return address;
  const groups = (text: string) => (text ? text.split(":") : []);
  const [head, tail] = address.split("::");
  // "::" stands for as many zero groups as make eight.
  const filled = tail === undefined
    ? groups(head)
    : [...groups(head), ...Array(8 - groups(head).length - groups(tail).length).fill("0"), ...groups(tail)];
  return `${filled.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}
