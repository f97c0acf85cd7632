/**
 * Walkthrough: list the nodes, run `hostname` on one node, show its metadata and output, then
 * run it on 4 nodes with 4 tasks.
 *
 *   npx tsx examples/submit.ts --host http://127.0.0.1:5000 [--user U --token T --secret-key K]
 *   npx tsx examples/submit.ts --stack dev        # endpoint and credentials from `pulumi stack output`
 *
 * Without flags it uses FLUX_RESTFUL_HOST, FLUX_USER, FLUX_TOKEN and FLUX_SECRET_KEY.
 */
import { parseArgs } from "node:util";
import { FluxRestfulClient, formatF58, type SubmitOptions } from "flux-restful-client";
import { jobInfoTable, resolveConnection } from "flux-restful-client/cli";

async function run(client: FluxRestfulClient, title: string, options: SubmitOptions): Promise<void> {
  console.log(`\n== ${title}`);
  const { id } = await client.submit(options);
  console.log(`submitted job ${id} (${formatF58(id)})`);
  const info = await client.wait(id, { timeoutMs: 120_000 });
  process.stdout.write(jobInfoTable(info));
  console.log("output:");
  for (const line of await client.output(id)) process.stdout.write(`  ${line}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string" },
      user: { type: "string" },
      token: { type: "string" },
      "secret-key": { type: "string" },
      stack: { type: "string" },
    },
  });
  const connection = await resolveConnection({ ...values, secretKey: values["secret-key"] }, process.env);
  const client = new FluxRestfulClient(connection);
  console.log(`server: ${client.origin}${connection.user ? ` (user ${connection.user})` : ""}`);

  const nodes = await client.nodes();
  console.log(`\n== nodes (${nodes.length})`);
  for (const node of [...nodes].sort()) console.log(`  ${node}`);

  await run(client, "hostname on one node", { command: "hostname", numNodes: 1, numTasks: 1 });
  await run(client, "hostname on 4 nodes, 4 tasks", { command: "hostname", numNodes: 4, numTasks: 4 });
}

main().catch((err: Error) => {
  console.error(`submit example: ${err.message}`);
  process.exitCode = 1;
});
