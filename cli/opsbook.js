#!/usr/bin/env node
// The `opsbook` bin of package.json: runs the TypeScript CLI through tsx, as the tests do.
"use strict";
require("tsx/cjs");
require("./main.ts")
    .main(process.argv)
    .catch((err) => {
        process.stderr.write(`opsbook: ${err && err.stack ? err.stack : err}\n`);
        process.exitCode = 1;
    });
