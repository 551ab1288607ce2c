// The changing procedures: stack-wide ones that change config and deploy (maintenance, read-only,
// rotate, rollback), and the ones each preset declares as data (presets/*.ts). Every input is
// checked before anything changes; each runs inside the safety frame (safety.ts).
import { STACK_GENERATED_SECRETS, Spec } from "../components/spec";
import { PRESETS, PRESET_PROCEDURES } from "../presets";
import { ProcedureSpec, Procedures } from "../presets/types";
import { CliError, EXIT } from "./errors";
import { ConfigChange, changeConfigAndDeploy, configPreview, configValue, describeChange } from "./deploy";
import { Progress } from "./progress";
import { runChange } from "./safety";
import { StackContext } from "./stack";
import { commandInService } from "./inspect";
import { TaskResult, runToolTask } from "./toolTask";

export interface ChangeOptions {
    readonly yes: boolean;
}

/** on|off, anything else a USAGE error naming the command. */
export function parseSwitch(command: string, value: string | undefined): boolean {
    if (value === "on" || value === "off") {
        return value === "on";
    }
    throw new CliError(EXIT.USAGE, value === undefined ? `${command} needs on or off` : `${command} takes on or off, not \`${value}\``);
}

/** Which services a stack-wide mode reaches, for the plan. */
function appServices(spec: Spec): string {
    return Object.keys(spec.services).join(", ");
}

/**
 * `maintenance on|off` and `read-only on|off`: one spec key each (`opsbook:maintenance`,
 * `opsbook:readOnly`), then `pulumi up`. Already in the asked state: nothing to do, exit 0.
 */
export async function setMode(ctx: StackContext, mode: "maintenance" | "read-only", on: boolean, opts: ChangeOptions, progress: Progress): Promise<void> {
    const spec = await ctx.spec();
    const key = mode === "maintenance" ? "opsbook:maintenance" : "opsbook:readOnly";
    const current = mode === "maintenance" ? spec.maintenance : spec.readOnly;
    if (current === on) {
        progress.step(`${mode} is already ${on ? "on" : "off"} on ${ctx.name}; nothing to do`);
        return;
    }
    const change: ConfigChange = { key, value: on ? "true" : undefined };
    const env = mode === "maintenance" ? "MAINTENANCE_MODE" : "READ_ONLY";
    const effect =
        mode === "maintenance"
            ? on
                ? "every request except health answers 503 maintenance"
                : "requests are served again"
            : on
              ? "writes answer 503 read-only and database sessions are read-only"
              : "writes are accepted again";
    await runChange(
        ctx,
        {
            procedure: `${mode} ${on ? "on" : "off"}`,
            args: { mode: on ? "on" : "off" },
            yes: opts.yes,
            preview: configPreview(ctx, [change], progress),
            plan: [
                describeChange(change, await configValue(ctx, key)),
                `pulumi up with the policy pack: services ${appServices(spec)} roll to ${env}=${on ? "true" : "their own value"} (start-first where stateless)`,
                `then ${effect}`,
            ],
        },
        progress,
        () => changeConfigAndDeploy(ctx, [change], progress),
    );
}

/** The next rotation stamp: a whole number goes up by one; none yet is 1; any other stamp becomes a time stamp. */
export function nextRotationStamp(current: string | undefined, now = new Date()): string {
    if (current === undefined) {
        return "1";
    }
    if (/^\d+$/.test(current)) {
        return String(BigInt(current) + 1n);
    }
    return now.toISOString().replace(/[-:TZ.]/g, "").slice(0, 14);
}

/** What a secret name is in this stack, for rotate: generated (rotatable), an encryption key, user-supplied, or unknown. */
export function secretKind(spec: Spec, name: string): "generated" | "key" | "user" | "unknown" {
    if (STACK_GENERATED_SECRETS.includes(name)) {
        return "generated";
    }
    const sources = Object.values(spec.services).map((svc) => svc.secretEnv[name]).filter((s) => s !== undefined);
    if (sources.includes("generated-hex64")) {
        return "key";
    }
    if (sources.includes("generated")) {
        return "generated";
    }
    return sources.length > 0 ? "user" : "unknown";
}

/** `rotate <SECRET>`: bumps `opsbook:rotation.<SECRET>` and deploys. */
export async function rotate(ctx: StackContext, secret: string, opts: ChangeOptions, progress: Progress, procedure = `rotate ${secret}`): Promise<void> {
    const spec = await ctx.spec();
    const kind = secretKind(spec, secret);
    const rotatable = [...new Set([...STACK_GENERATED_SECRETS, ...Object.values(spec.services).flatMap((s) => Object.entries(s.secretEnv).filter(([, src]) => src === "generated").map(([n]) => n))])];
    if (kind === "key") {
        throw new CliError(
            EXIT.USAGE,
            `${secret} is an encryption key (generated-hex64): it is protected and its rotation needs the app's re-encryption; see README, "Secret rotation". Nothing was changed`,
        );
    }
    if (kind === "user") {
        throw new CliError(EXIT.USAGE, `${secret} is user-supplied: revoke it at its provider, then 'pulumi config set --secret ${secret}' (value at the prompt) and deploy. Nothing was changed`);
    }
    if (kind === "unknown") {
        throw new CliError(EXIT.USAGE, `stack ${ctx.name} has no secret ${secret}; the secrets it can rotate: ${rotatable.sort().join(", ")}`);
    }
    const key = `opsbook:rotation.${secret}`;
    const current = spec.rotation[secret];
    const change: ConfigChange = { key, value: nextRotationStamp(current) };
    const users = Object.entries(spec.services).filter(([, svc]) => secret in svc.secretEnv).map(([n]) => n);
    await runChange(
        ctx,
        {
            procedure,
            // Keyed so the audit keeps it: the secret's name, never its value.
            args: { secretName: secret },
            yes: opts.yes,
            preview: configPreview(ctx, [change], progress),
            plan: [
                describeChange(change, current),
                `pulumi up with the policy pack: a new ${secret} is generated${users.length ? `, services ${users.join(", ")} roll to it together` : " and the parts that use it roll"}`,
                "the previous value stops working once the deploy is done (see README, \"Secret rotation\", for each secret's details)",
            ],
        },
        progress,
        () => changeConfigAndDeploy(ctx, [change], progress),
    );
}

/** The release and image keys a deploy ran with, from one entry of the stack's history. */
interface DeployedRelease {
    readonly release: string;
    readonly images: string | undefined;
    readonly version: number;
    readonly at: Date;
}

/**
 * `rollback [--to <release>]`: the release label and images of an earlier successful deploy, set
 * back in config and deployed (the same gapless path as a release). Default: the newest
 * successful deploy whose release label differs from the current one.
 */
export async function rollback(ctx: StackContext, to: string | undefined, opts: ChangeOptions, progress: Progress): Promise<void> {
    const spec = await ctx.spec();
    const history = await progress.run("reading the stack's deploy history", () => ctx.stack.history(100, 1, false));
    const deployed: DeployedRelease[] = history
        .filter((h) => h.kind === "update" && h.result === "succeeded")
        .map((h) => ({
            release: h.config?.["opsbook:release"]?.value ?? "1",
            images: h.config?.["opsbook:images"]?.value,
            version: h.version,
            at: h.startTime,
        }));
    const target = to === undefined ? deployed.find((d) => d.release !== spec.release) : deployed.find((d) => d.release === to);
    if (!target) {
        const known = [...new Set(deployed.map((d) => d.release))];
        throw new CliError(
            EXIT.USAGE,
            to === undefined
                ? `stack ${ctx.name} has no earlier release than ${spec.release} in its history (releases deployed: ${known.join(", ") || "none"}); nothing was changed`
                : `stack ${ctx.name} never deployed release ${to} successfully (releases deployed: ${known.join(", ") || "none"}); nothing was changed`,
        );
    }
    // Images are a map: each key is set back on its own (a `--path` value is always a string).
    const targetImages = target.images ? (JSON.parse(target.images) as Record<string, string>) : {};
    const imageKeys = new Set([...Object.keys(targetImages), ...Object.keys(JSON.parse((await configValue(ctx, "opsbook:images")) ?? "{}") as Record<string, string>)]);
    const changes: ConfigChange[] = [
        { key: "opsbook:release", value: target.release },
        ...[...imageKeys].sort().map((k) => ({ key: `opsbook:images.${k}`, value: targetImages[k] })),
    ];
    const plan: string[] = [];
    for (const change of changes) {
        const before = await configValue(ctx, change.key);
        if (before !== change.value) {
            plan.push(describeChange(change, before));
        }
    }
    plan.push(`pulumi up with the policy pack: back to release ${target.release} as deployed in update ${target.version} (${target.at.toISOString()}); migrations of that release run first, services roll start-first`);
    await runChange(ctx, { procedure: "rollback", args: { to: target.release }, yes: opts.yes, plan, preview: configPreview(ctx, changes, progress) }, progress, () => changeConfigAndDeploy(ctx, changes, progress));
}

/** The procedures of the stack's preset. */
export function stackProcedures(spec: Spec): Procedures {
    return spec.preset ? (PRESET_PROCEDURES[spec.preset] ?? {}) : {};
}

/** Presets that declare a procedure of that name. */
export function presetsWith(procedure: string): string[] {
    return Object.keys(PRESETS).filter((p) => PRESET_PROCEDURES[p] && Object.prototype.hasOwnProperty.call(PRESET_PROCEDURES[p], procedure));
}

/** Every procedure name any preset declares (commands of the CLI). */
export function allProcedureNames(): string[] {
    return [...new Set(Object.values(PRESET_PROCEDURES).flatMap((p) => Object.keys(p)))].sort();
}

/**
 * The procedure a stack runs under `name`, with its arguments checked; USAGE errors say what the
 * stack has, which presets have the procedure, or which argument is missing or malformed.
 */
export function resolveProcedure(
    stackName: string,
    spec: Spec,
    name: string,
    positional: string[],
    options: Record<string, string | undefined>,
): { procedure: ProcedureSpec; values: Record<string, string> } {
    const own = stackProcedures(spec);
    const procedure = Object.prototype.hasOwnProperty.call(own, name) ? own[name] : undefined;
    if (!procedure) {
        const elsewhere = presetsWith(name);
        const ours = Object.keys(own).join(", ") || "none";
        throw new CliError(
            EXIT.USAGE,
            elsewhere.length > 0
                ? `stack ${stackName} (preset ${spec.preset ?? "none"}) has no procedure \`${name}\`; presets that have it: ${elsewhere.join(", ")}. This stack's procedures: ${ours}`
                : `unknown procedure \`${name}\`; stack ${stackName}'s procedures: ${ours}`,
        );
    }
    const values: Record<string, string> = {};
    const args = procedure.arguments ?? [];
    args.forEach((arg, i) => {
        const value = positional[i];
        if (value === undefined) {
            throw new CliError(EXIT.USAGE, `${name} needs the argument <${arg.name}> (${arg.description})`);
        }
        if (!new RegExp(`^(?:${arg.pattern})$`).test(value)) {
            throw new CliError(EXIT.USAGE, `<${arg.name}> of ${name} must match ${arg.pattern}; got \`${value}\``);
        }
        values[arg.name] = value;
    });
    if (positional.length > args.length) {
        throw new CliError(EXIT.USAGE, `${name} takes ${args.length ? args.map((a) => `<${a.name}>`).join(" ") : "no arguments"}; unexpected \`${positional[args.length]}\``);
    }
    for (const option of procedure.options ?? []) {
        const value = options[option.name] ?? option.default;
        if (!new RegExp(`^(?:${option.pattern})$`).test(value)) {
            throw new CliError(EXIT.USAGE, `--${option.name} of ${name} must match ${option.pattern}; got \`${value}\``);
        }
        values[option.name] = value;
    }
    return { procedure, values };
}

/** Runs a preset procedure; its result (rows or the service's answer) is returned for printing. */
export async function runProcedure(
    ctx: StackContext,
    name: string,
    positional: string[],
    options: Record<string, string | undefined>,
    opts: ChangeOptions,
    progress: Progress,
): Promise<TaskResult | undefined> {
    const spec = await ctx.spec();
    const { procedure, values } = resolveProcedure(ctx.name, spec, name, positional, options);
    const action = procedure.action;
    if (action.kind === "rotate") {
        await rotate(ctx, action.secret, opts, progress, name);
        return undefined;
    }
    if (!(action.service in spec.services)) {
        throw new CliError(EXIT.USAGE, `procedure ${name} acts on service \`${action.service}\`, which stack ${ctx.name} does not have (its services: ${Object.keys(spec.services).join(", ")})`);
    }
    const run = async (): Promise<TaskResult> => {
        const result = await progress.run(action.kind === "command" ? `${name}: in a running task of ${action.service}` : `${name}: task on the ${ctx.name} data network`, () =>
            action.kind === "command"
                ? commandInService(ctx, action.service, commandArgv(action.command, values))
                : action.kind === "sql"
                ? runToolTask(ctx, action.service, { kind: "sql", secretEnv: "DATABASE_URL", sql: action.sql, vars: values })
                : runToolTask(ctx, action.service, {
                      kind: "http",
                      secretEnv: action.bearerSecret,
                      url: `http://${action.service}:${spec.services[action.service].port}${action.path}`,
                      method: action.method,
                      body: action.body ? Object.fromEntries(Object.entries(action.body).map(([k, v]) => [k, v.replace(/^\{(\w+)\}$/, (_, arg: string) => values[arg] ?? "")])) : undefined,
                  }),
        );
        if (!result.ok) {
            const why =
                result.kind === "http"
                    ? `HTTP ${result.status}${result.error ? ` (${result.error})` : ""}: ${JSON.stringify(result.body)}`
                    : result.kind === "command"
                      ? `exit ${result.exitCode}${result.error ? `: ${result.error}` : ""}${result.output ? `\n${result.output.trimEnd()}` : ""}`
                      : result.error;
            throw new CliError(EXIT.FAILED, `${name} failed: ${why}`);
        }
        return result;
    };
    if (!procedure.changes) {
        return run();
    }
    const what =
        action.kind === "command"
            ? `run in a running task of ${action.service} (its env and secret files, as the service has them): ${commandArgv(action.command, values).join(" ")}`
            : action.kind === "sql"
            ? `run as ${action.service}'s database role (its DATABASE_URL secret, in a task of the stack's tool image on the data network):\n       ${action.sql}${Object.keys(values).length ? `\n       with ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(", ")}` : ""}`
            : `${action.method} http://${action.service}:${spec.services[action.service].port}${action.path} inside the stack network with ${action.service}'s ${action.bearerSecret} as bearer (mounted from its swarm secret, never shown)${Object.keys(values).length ? `, ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(", ")}` : ""}`;
    return runChange(ctx, { procedure: name, args: values, yes: opts.yes, plan: [what] }, progress, run);
}

/** A `command` procedure's argv: each `{name}` element is that argument's value, as one element. Pure. */
export function commandArgv(command: readonly string[], values: Record<string, string>): string[] {
    return command.map((part) => part.replace(/^\{(\w+)\}$/, (whole, arg: string) => values[arg] ?? whole));
}

/** YYYY-MM-DD that is a real calendar day (the app refuses anything else with a 400 after the fact). */
export function parseDay(raw: string | undefined): string {
    if (raw === undefined) {
        throw new CliError(EXIT.USAGE, "replay needs --date <YYYY-MM-DD>: the day whose run was missed");
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00Z`)) || new Date(`${raw}T00:00:00Z`).toISOString().slice(0, 10) !== raw) {
        throw new CliError(EXIT.USAGE, `--date must be a day as YYYY-MM-DD; got \`${raw}\``);
    }
    return raw;
}

/**
 * `replay <job> --date <day>` (seed 000): the stack's scheduler runs the job now, sending the
 * job's secret header itself; the app records the run as `manual_replay` for that day. The call
 * goes from a task on the data network to the scheduler, which no port publishes.
 */
export async function replay(ctx: StackContext, job: string, rawDate: string | undefined, opts: ChangeOptions, progress: Progress): Promise<TaskResult> {
    const spec = await ctx.spec();
    const jobs = Object.keys(spec.jobs);
    if (jobs.length === 0) {
        const withJobs = Object.entries(PRESETS).filter(([, p]) => p.jobs !== undefined).map(([n]) => n);
        throw new CliError(EXIT.USAGE, `stack ${ctx.name} has no scheduled jobs (\`opsbook:jobs\`); presets with jobs: ${withJobs.join(", ")}`);
    }
    if (!jobs.includes(job)) {
        throw new CliError(EXIT.USAGE, `stack ${ctx.name} has no job \`${job}\`; its jobs: ${jobs.join(", ")}`);
    }
    const date = parseDay(rawDate);
    const url = `http://scheduler:8080/run/${encodeURIComponent(job)}?source=manual_replay&date=${date}`;
    const target = spec.jobs[job];
    return runChange(
        ctx,
        {
            procedure: `replay ${job}`,
            args: { job, date },
            yes: opts.yes,
            plan: [
                `POST ${url} from a task on the stack's data network: the scheduler calls ${target.method} ${target.service}${target.path}${target.secretHeader ? ` with ${target.secretHeader.header} itself` : ""}`,
                `the app records the run for ${date} as manual_replay`,
            ],
        },
        progress,
        async () => {
            const result = await progress.run(`replay ${job} for ${date}`, () => runToolTask(ctx, "scheduler", { kind: "http", url, method: "POST" }));
            if (!result.ok) {
                const body = result.kind === "http" ? JSON.stringify(result.body) : result.error;
                throw new CliError(EXIT.FAILED, `the replay of ${job} failed: ${result.kind === "http" ? `HTTP ${result.status}` : ""} ${body}`);
            }
            return result;
        },
    );
}
