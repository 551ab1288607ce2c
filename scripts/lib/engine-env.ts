// Prints the shell assignments that point the docker CLI at a deployed stack's engine, from the
// stack's outputs (`pulumi stack output --json`, on stdin): DOCKER_HOST, for an ssh:// engine a
// PATH whose `ssh` checks the server's host key against the stack's known_hosts line, and for a
// tcp:// engine DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (the directory the stack's program wrote its
// TLS material to), exactly as the stack's own docker calls do (providers/engineCli.ts). Nothing
// secret is printed.
//
//   eval "$(pulumi stack output --json | node --import tsx scripts/lib/engine-env.ts)"
//
// Prints nothing when the outputs name no engine: the stack is on this machine's engine (the local
// socket, or DOCKER_HOST), where the docker CLI goes anyway.
import * as fs from "fs";
import { EngineConnection, dockerCliEnv, shellQuote } from "../../providers/engineCli";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(fs.readFileSync(__filename, "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
    process.exit(0);
}
let outputs: { engine?: EngineConnection };
try {
    outputs = JSON.parse(fs.readFileSync(0, "utf8"));
} catch (err) {
    process.stderr.write(`engine-env: the stack outputs on stdin are not JSON (${String(err)})\n`);
    process.exit(1);
}
const engine = outputs.engine;
if (engine === undefined) {
    process.exit(0);
}
if (typeof engine.host !== "string" || !Array.isArray(engine.sshOptions)) {
    process.stderr.write(`engine-env: the stack's \`engine\` output is not {host, sshOptions}: ${JSON.stringify(engine)}\n`);
    process.exit(1);
}
let env: NodeJS.ProcessEnv;
try {
    env = dockerCliEnv(engine);
} catch (err) {
    process.stderr.write(`engine-env: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
}
process.stdout.write(`export DOCKER_HOST=${shellQuote(engine.host)}\nexport PATH=${shellQuote(env.PATH ?? "")}\n`);
// A tcp:// engine: the docker CLI's TLS variables, on the material's directory (a path, not the material).
if (env.DOCKER_CERT_PATH) {
    process.stdout.write(`export DOCKER_TLS_VERIFY=1\nexport DOCKER_CERT_PATH=${shellQuote(env.DOCKER_CERT_PATH)}\n`);
}
