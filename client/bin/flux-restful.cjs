#!/usr/bin/env node
// The package ships TypeScript run by tsx: register its loader, then run the CLI.
"use strict";
require("tsx/cjs");
const { main } = require("../cli.ts");
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
