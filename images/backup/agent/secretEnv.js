// @ts-check
// The agent's secrets come from NAME or from the file named by NAME_FILE: swarm services mount
// each secret at /run/secrets/<NAME> and set <NAME>_FILE to that path, never the value in env.
"use strict";
const fs = require("fs");

/**
 * NAME, or the content of the file named by NAME_FILE with one trailing newline stripped.
 * Undefined when neither is set (or the value is empty). Both set is an error naming both; an
 * unreadable file is an error naming the variable and the path. Errors never hold the value.
 * @param {string} name
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string | undefined}
 */
function readSecretEnv(name, env = process.env) {
    const direct = env[name];
    const file = env[`${name}_FILE`];
    if (direct && file) {
        throw new Error(`both ${name} and ${name}_FILE are set; set only one`);
    }
    if (!file) {
        return direct || undefined;
    }
    let text;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new Error(`cannot read ${name}_FILE (${file}): ${/** @type {NodeJS.ErrnoException} */ (err).code ?? "error"}`);
    }
    return text.replace(/\r?\n$/, "") || undefined;
}

module.exports = { readSecretEnv };
