#!/usr/bin/env node
import { main } from "../dist/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: a long-running command resolves only after a clean shutdown.
    process.exit(code);
  },
  (err) => {
    console.error(`imrelay: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
