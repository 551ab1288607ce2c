// Runs a procedure's SQL or HTTP call inside the stack: a one-shot swarm job of the stack's own
// tool image (the backup agent's image: Debian's node and psql, built by the toolchain, never
// the team's image) on the stack's data network, with the target service's own swarm secret
// (its DATABASE_URL, its admin token) mounted as a file. The secret's value never reaches this
// process, a command line, an env var or a log: the engine hands the task the same secret it
// hands the service, so a rotated token is the one the service checks.
import { runJob } from "../providers/oneShot";
import { engineName, stackLabels } from "../components/naming";
import { CliError, EXIT } from "./errors";
import { Engine, localImageId } from "./engine";
import { StackContext } from "./stack";

/** What the task does, in the shape TASK_SCRIPT reads from OPSBOOK_ACTION (no secret in it). */
export type TaskAction =
    | { kind: "sql"; secretEnv: "DATABASE_URL"; sql: string; vars: Record<string, string> }
    /** `secretEnv`: the bearer token's secret; none for a call that needs no credential (the scheduler). */
    | { kind: "http"; secretEnv?: string; url: string; method: string; body?: Record<string, string> };

export type TaskResult =
    | { ok: boolean; kind: "sql"; rows: Record<string, string>[]; error?: string }
    | { ok: boolean; kind: "http"; status: number; body: unknown; error?: string }
    /** The app's own command run in a task of the service (a `command` procedure). */
    | { ok: boolean; kind: "command"; exitCode: number; output: string; error?: string };

const RESULT_MARK = "OPSBOOK-RESULT ";

/**
 * The program the task runs (Debian's node 18, CommonJS, no dependency). It reads the secret file
 * the engine mounted, calls psql (host, user and database from PG* variables of its child, the password from a 0600 file on the task's tmpfs: never argv or env) or the
 * service, and prints one line: the mark, then the result as JSON.
 */
export const TASK_SCRIPT = `
const fs = require("fs");
const { spawnSync } = require("child_process");
const a = JSON.parse(process.env.OPSBOOK_ACTION);
const secret = () => fs.readFileSync(process.env[a.secretEnv + "_FILE"], "utf8").replace(/\\r?\\n$/, "");
const done = (r) => { process.stdout.write(${JSON.stringify(RESULT_MARK)} + JSON.stringify(r) + "\\n"); process.exit(0); };
if (a.kind === "sql") {
  const u = new URL(secret());
  const [host, port, db, user] = [u.hostname, u.port || "5432", decodeURIComponent(u.pathname.slice(1)), decodeURIComponent(u.username)];
  // The password goes to psql in a password file on the task's tmpfs, never in an env var or argv.
  const field = (v) => v.replace(/\\\\/g, "\\\\\\\\").replace(/:/g, "\\\\:");
  fs.writeFileSync("/tmp/opsbook.pgpass", [host, port, db, user, decodeURIComponent(u.password)].map(field).join(":") + "\\n", { mode: 0o600 });
  const env = { ...process.env, PGHOST: host, PGPORT: port, PGUSER: user, PGDATABASE: db, PGPASSFILE: "/tmp/opsbook.pgpass", PGCONNECT_TIMEOUT: "10" };
  const vars = Object.entries(a.vars).flatMap(([k, v]) => ["-v", k + "=" + v]);
  const r = spawnSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", ...vars, "-f", "-"], { env, input: a.sql + "\\n", encoding: "utf8" });
  done({ ok: r.status === 0, kind: "sql", csv: r.stdout, error: (r.stderr || "").trim() || undefined });
} else {
  fetch(a.url, { method: a.method, headers: { ...(a.secretEnv ? { authorization: "Bearer " + secret() } : {}), "content-type": "application/json" },
    body: a.body ? JSON.stringify(a.body) : undefined, signal: AbortSignal.timeout(15000) })
    .then(async (res) => { const text = await res.text(); let body = text.slice(0, 4000); try { body = JSON.parse(text); } catch {}
      done({ ok: res.ok, kind: "http", status: res.status, body }); })
    .catch((err) => done({ ok: false, kind: "http", status: 0, body: null, error: String(err && err.cause ? err.cause : err) }));
}
`;

/** Minimal RFC 4180 reader for psql's --csv output: a header row, quoted fields, doubled quotes. */
export function parseCsv(text: string): Record<string, string>[] {
    const rows: string[][] = [];
    let row: string[] = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (quoted) {
            if (c === '"' && text[i + 1] === '"') {
                field += '"';
                i++;
            } else if (c === '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c === '"') {
            quoted = true;
        } else if (c === ",") {
            row.push(field);
            field = "";
        } else if (c === "\n" || c === "\r") {
            if (c === "\r" && text[i + 1] === "\n") {
                i++;
            }
            row.push(field);
            rows.push(row);
            row = [];
            field = "";
        } else {
            field += c;
        }
    }
    if (field !== "" || row.length > 0) {
        row.push(field);
        rows.push(row);
    }
    const [header, ...body] = rows;
    return header ? body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""]))) : [];
}

/** The swarm secret a service mounts as `/run/secrets/<env>`; a USAGE error when it has none. */
async function serviceSecret(ctx: StackContext, engine: Engine, service: string, env: string): Promise<string> {
    const swarmName = await ctx.swarmService(service);
    const [info] = await engine.inspectServices([swarmName]);
    // The stack mounts each secret at /run/secrets/<NAME> (the file name is the env name).
    const mount = info?.Spec.TaskTemplate.ContainerSpec.Secrets?.find((s) => s.File.Name === `/run/secrets/${env}` || s.File.Name === env);
    if (!mount) {
        throw new CliError(EXIT.USAGE, `service \`${service}\` of stack ${ctx.name} has no secret ${env}; the procedure needs it (is the service's \`secretEnv\` or \`uses\` changed?)`);
    }
    return mount.SecretName;
}

/** Runs the action in a task on the stack's data network; `service` is the one whose secret the action mounts. */
export async function runToolTask(ctx: StackContext, service: string, action: TaskAction): Promise<TaskResult> {
    const spec = await ctx.spec();
    const outputs = await ctx.outputs();
    const network = outputs.networks?.data;
    if (!network) {
        throw new CliError(EXIT.UNAVAILABLE, `stack ${ctx.name} has no data network in its outputs; run 'npm run deploy -- ${ctx.name}'`);
    }
    const engine = await ctx.engine();
    const secretEnv = action.secretEnv;
    const secretFiles = secretEnv ? [{ secretName: await serviceSecret(ctx, engine, service, secretEnv), env: secretEnv }] : [];
    const imageId = await localImageId(spec.images.backup);
    const result = await runJob({
        name: engineName(ctx.identity, "procedure"),
        image: imageId,
        imageName: spec.images.backup,
        command: ["node", "-e", TASK_SCRIPT],
        env: { OPSBOOK_ACTION: JSON.stringify(action) },
        secretFiles,
        labels: stackLabels(ctx.identity, "procedure"),
        networks: [network],
        memoryMb: 128,
        timeoutSeconds: 120,
        release: "",
        redact: [],
        ...(engine.connection ? { engine: engine.connection } : {}),
    });
    const line = result.output.split("\n").find((l) => l.startsWith(RESULT_MARK));
    if (!line) {
        throw new CliError(
            EXIT.FAILED,
            result.timedOut ? `the procedure's task did not finish within 120s; its output:\n${result.output}` : `the procedure's task ended (exit ${result.exitCode}) without a result; its output:\n${result.output}`,
        );
    }
    const raw = JSON.parse(line.slice(RESULT_MARK.length)) as { ok: boolean; kind: string; csv?: string; status?: number; body?: unknown; error?: string };
    return raw.kind === "sql"
        ? { ok: raw.ok, kind: "sql", rows: raw.ok ? parseCsv(raw.csv ?? "") : [], error: raw.error }
        : { ok: raw.ok, kind: "http", status: raw.status ?? 0, body: raw.body, error: raw.error };
}
