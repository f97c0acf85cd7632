/** broker.ping, attr.get and config.get, as the broker itself answers them. */
import { randomUUID } from "node:crypto";
import { Errno, RpcError, type WireServer } from "../server";
import type { ServiceContext } from "./context";

export function registerBrokerServices(server: WireServer, ctx: ServiceContext): void {
  server.register("attr.get", (req) => {
    const { name } = req.json();
    if (typeof name !== "string") throw new RpcError(Errno.EPROTO);
    const attr = ctx.attrs.get(name);
    if (!attr) throw new RpcError(Errno.ENOENT);
    req.respond({ value: attr.value, flags: attr.flags });
  });

  // The instance has no configuration files (like `flux start --test-size`); flux CLI tools ask.
  server.register("config.get", (req) => req.respond({}));

  // The reply echoes the request object and adds route, userid, rolemask and rank.
  const route = randomUUID().slice(0, 8);
  server.register("broker.ping", (req) => {
    const payload = req.json();
    req.respond({ ...payload, route, userid: req.userid, rolemask: req.rolemask, rank: 0 });
  });
}
