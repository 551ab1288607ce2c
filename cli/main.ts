// `opsbook`: the runbook's procedures as one command, on Pulumi's Automation API and the stack's
// Docker engine. Every command's `--help` is commander's, from the definitions below; the exit
// codes are in errors.ts. Data goes to stdout (`--json` where it is data), progress to stderr.
import { Command, CommanderError, Option } from "commander";
import { listAudit } from "./audit";
import { CliError, EXIT, EXIT_CODES_HELP } from "./errors";
import { execInService, formatStatus, serviceLogs, stackStatus } from "./inspect";
import { allProcedureNames, parseSwitch, presetsWith, replay, resolveProcedure, rollback, rotate, runProcedure, setMode, stackProcedures } from "./procedures";
import { restore } from "./restore";
import { Progress } from "./progress";
import { StackContext } from "./stack";
import { TaskResult } from "./toolTask";
import { PRESET_PROCEDURES } from "../presets";

interface GlobalOptions {
    stack?: string;
    policyConfig?: string;
}

/** Runs a command body; a CliError ends with its code and message, anything else is FAILED with its message. */
async function handle(body: () => Promise<number | void>): Promise<void> {
    try {
        const code = await body();
        process.exitCode = code ?? EXIT.OK;
    } catch (err) {
        if (err instanceof CliError) {
            process.stderr.write(`opsbook: ${err.message}\n`);
            process.exitCode = err.exitCode;
        } else {
            process.stderr.write(`opsbook: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exitCode = EXIT.FAILED;
        }
    }
}

function globals(cmd: Command): GlobalOptions {
    return cmd.optsWithGlobals() as GlobalOptions;
}

function printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Rows as an aligned text table (what psql would print, without its borders). */
function table(rows: Record<string, unknown>[]): string {
    if (rows.length === 0) {
        return "(no rows)\n";
    }
    const cols = Object.keys(rows[0]);
    const cells = [cols, ...rows.map((r) => cols.map((c) => (typeof r[c] === "string" ? (r[c] as string) : JSON.stringify(r[c]))))];
    const widths = cols.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
    return `${cells.map((r) => r.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd()).join("\n")}\n`;
}

function printTaskResult(result: TaskResult | undefined, json: boolean): void {
    if (!result) {
        return;
    }
    if (json) {
        printJson(result.kind === "sql" ? { rows: result.rows } : result.kind === "command" ? { exitCode: result.exitCode, output: result.output } : { status: result.status, body: result.body });
    } else if (result.kind === "command") {
        process.stdout.write(result.output);
    } else if (result.kind === "sql") {
        process.stdout.write(table(result.rows));
    } else {
        process.stdout.write(`HTTP ${result.status}\n${typeof result.body === "string" ? result.body : JSON.stringify(result.body, null, 2)}\n`);
    }
}

export function buildProgram(): Command {
    const program = new Command("opsbook")
        .description("The runbook's procedures on a deployed opsbook stack: look, change with a preview and a confirmation, and leave an audit entry.")
        .option("--stack <name>", "the stack to act on (default: the selected stack, `pulumi stack select`)")
        .option("--policy-config <file>", "policy pack config for deploys (default: policies/config/<stack>.json, else production's, as npm run deploy)")
        // Set before the commands are added, so that they inherit them: main() decides every exit
        // code, and `--help` lists each command on one line whatever the terminal's width.
        .exitOverride()
        .configureHelp({ helpWidth: 200 })
        // An unknown command may be a procedure of another preset: main() says which, with the
        // stack's own procedures, instead of commander's bare "unknown command".
        .configureOutput({ outputError: (text, write) => (/unknown command/.test(text) ? undefined : write(text)) })
        .addHelpText(
            "after",
            `
Changing commands print what they will do and ask on a terminal; --yes skips the question, and
without a terminal and without --yes they refuse. Each run leaves an audit entry in the stack's
swarm ('opsbook audit'). Progress goes to stderr, results to stdout.

${EXIT_CODES_HELP}`,
        );

    program
        .command("status")
        .description("each service's tasks, release and image; each endpoint's health; firing alerts; the last verified backups; the webhook")
        .option("--json", "print the status as JSON")
        .addHelpText(
            "after",
            "\nExits 0 when everything runs and answers healthy, nothing fires and every backup is fresh; 5 when not\n" +
                "(also while the stack's Alertmanager does not answer), so a cron job or CI can act on it.",
        )
        .action((opts: { json?: boolean }, cmd: Command) =>
            handle(async () => {
                const ctx = await StackContext.open(globals(cmd));
                const status = await stackStatus(ctx);
                if (opts.json) {
                    printJson(status);
                } else {
                    process.stdout.write(formatStatus(status));
                }
                return status.healthy ? EXIT.OK : EXIT.DEGRADED;
            }),
        );

    program
        .command("logs")
        .description("a service's logs (docker service logs), with timestamps")
        .argument("<service>", "a service of the stack (its spec name, or postgres, redis, scheduler, backups)")
        .option("-f, --follow", "keep printing new lines")
        .option("--since <time>", "only lines since then: 10m, 2h, or a timestamp such as 2026-12-01T10:00:00")
        .option("--tail <lines>", "only the last <lines> lines of each task")
        .action((service: string, opts: { follow?: boolean; since?: string; tail?: string }, cmd: Command) =>
            handle(async () => serviceLogs(await StackContext.open(globals(cmd)), service, opts)),
        );

    program
        .command("exec")
        .description("run a command in a service's running task (docker exec); nothing is assumed inside the image")
        .argument("<service>", "a service of the stack")
        .argument("<command...>", "the command and its arguments, after --")
        .addHelpText("after", "\nExample: opsbook exec api -- ls /run/secrets\nExits with the command's own exit code.")
        .action((service: string, command: string[], _opts: object, cmd: Command) =>
            handle(async () => execInService(await StackContext.open(globals(cmd)), service, command)),
        );

    const modeCommand = (name: "maintenance" | "read-only", description: string, key: string) =>
        program
            .command(name)
            .description(description)
            .argument("<on|off>", "turn the mode on or off")
            .option("-y, --yes", "do not ask for confirmation")
            .addHelpText("after", `\nSets \`${key}\` in the stack's config and runs \`pulumi up\` with the policy pack.`)
            .action((value: string, opts: { yes?: boolean }, cmd: Command) =>
                handle(async () => {
                    const on = parseSwitch(name, value);
                    const progress = new Progress();
                    await setMode(await StackContext.open(globals(cmd)), name, on, { yes: opts.yes === true }, progress);
                }),
            );
    modeCommand("maintenance", "maintenance mode: every request but health answers 503 (seed 002)", "opsbook:maintenance");
    modeCommand("read-only", "read-only mode: writes refused, database sessions read-only (seed 004, after a restore)", "opsbook:readOnly");

    program
        .command("rotate")
        .description("rotate a generated secret: bump its rotation stamp and deploy")
        .argument("<SECRET>", "the secret's env name, e.g. ADMIN_TOKEN, JWT_SECRET, POSTGRES_APP_PASSWORD")
        .option("-y, --yes", "do not ask for confirmation")
        .action((secret: string, opts: { yes?: boolean }, cmd: Command) =>
            handle(async () => rotate(await StackContext.open(globals(cmd)), secret, { yes: opts.yes === true }, new Progress())),
        );

    program
        .command("rollback")
        .description("deploy an earlier release again (its release label and images, from the stack's history)")
        .option("--to <release>", "the release label to go back to (default: the newest successful deploy of another release)")
        .option("-y, --yes", "do not ask for confirmation")
        .action((opts: { to?: string; yes?: boolean }, cmd: Command) =>
            handle(async () => rollback(await StackContext.open(globals(cmd)), opts.to, { yes: opts.yes === true }, new Progress())),
        );

    program
        .command("replay")
        .description("run a scheduled job now for a given day; the app records it as manual_replay (seed 000)")
        .argument("<job>", "a job of the stack (`opsbook:jobs`), e.g. eod")
        .requiredOption("--date <YYYY-MM-DD>", "the day whose run was missed")
        .option("-y, --yes", "do not ask for confirmation")
        .option("--json", "print the scheduler's answer as JSON")
        .action((job: string, opts: { date?: string; yes?: boolean; json?: boolean }, cmd: Command) =>
            handle(async () => {
                const result = await replay(await StackContext.open(globals(cmd)), job, opts.date, { yes: opts.yes === true }, new Progress());
                printTaskResult(result, opts.json === true);
            }),
        );

    program
        .command("restore")
        .description("restore a verified backup (default: the newest) after a safety backup of the live data")
        .argument("[backup]", "the backup's name, as 'npm run backup -- list' shows it")
        .option("--force", "allow a backup that is not verified (or changed since), and go on when the safety backup fails")
        .option("-y, --yes", "do not ask for confirmation")
        .action((backup: string | undefined, opts: { force?: boolean; yes?: boolean }, cmd: Command) =>
            handle(async () => {
                const result = await restore(await StackContext.open(globals(cmd)), backup, { yes: opts.yes === true, force: opts.force === true }, new Progress());
                printJson(result);
            }),
        );

    program
        .command("audit")
        .description("the stack's audit trail of opsbook procedures, newest first")
        .option("--json", "print the entries as JSON")
        .option("--limit <n>", "at most <n> entries", "50")
        .action((opts: { json?: boolean; limit: string }, cmd: Command) =>
            handle(async () => {
                const limit = Number(opts.limit);
                if (!Number.isInteger(limit) || limit < 1) {
                    throw new CliError(EXIT.USAGE, `--limit must be a whole number of 1 or more; got \`${opts.limit}\``);
                }
                const ctx = await StackContext.open(globals(cmd));
                const entries = (await listAudit(await ctx.engine(), ctx.identity)).slice(0, limit);
                if (opts.json) {
                    printJson(entries);
                } else {
                    process.stdout.write(
                        table(
                            entries.map((e) => ({
                                when: e.at,
                                who: e.who,
                                procedure: e.procedure,
                                args: Object.entries(e.args).map(([k, v]) => `${k}=${v}`).join(" "),
                                result: e.result + (e.error ? `: ${e.error}` : ""),
                                duration: `${(e.durationMs / 1000).toFixed(1)}s`,
                            })),
                        ),
                    );
                }
            }),
        );

    program
        .command("procedures")
        .description("the procedures of the stack's preset, with their arguments")
        .option("--json", "print them as JSON")
        .action((opts: { json?: boolean }, cmd: Command) =>
            handle(async () => {
                const ctx = await StackContext.open(globals(cmd));
                const procedures = stackProcedures(await ctx.spec());
                if (opts.json) {
                    printJson(procedures);
                    return;
                }
                for (const [name, p] of Object.entries(procedures)) {
                    const args = [...(p.arguments ?? []).map((a) => `<${a.name}>`), ...(p.options ?? []).map((o) => `[--${o.name} <${o.name}>]`)].join(" ");
                    process.stdout.write(`${`${name} ${args}`.trimEnd().padEnd(32)} ${p.description}${p.changes ? "" : " (read-only)"}\n`);
                }
            }),
        );

    // The presets' procedures, one command each; which stack has which is checked when it runs.
    for (const name of allProcedureNames()) {
        const declared = Object.entries(PRESET_PROCEDURES).flatMap(([preset, procs]) => (procs[name] ? [{ preset, spec: procs[name] }] : []));
        const first = declared[0].spec;
        const command = program
            .command(name)
            .description(`${first.description} [preset ${presetsWith(name).join(", ")}]`)
            .option("-y, --yes", "do not ask for confirmation (procedures that change something)")
            .option("--json", "print the result as JSON");
        for (const arg of first.arguments ?? []) {
            command.argument(`[${arg.name}]`, `${arg.description} (required)`);
        }
        for (const option of first.options ?? []) {
            command.addOption(new Option(`--${option.name} <${option.name}>`, `${option.description} (default ${option.default})`));
        }
        command.action((...params: unknown[]) => {
            const cmd = params[params.length - 1] as Command;
            const opts = cmd.opts() as Record<string, string | boolean | undefined>;
            const positional = cmd.args;
            return handle(async () => {
                const ctx = await StackContext.open(globals(cmd));
                const stringOptions = Object.fromEntries(Object.entries(opts).filter(([, v]) => typeof v === "string")) as Record<string, string>;
                const result = await runProcedure(ctx, name, positional, stringOptions, { yes: opts.yes === true }, new Progress());
                printTaskResult(result, opts.json === true);
            });
        });
    }
    return program;
}

/** A word that is no command: if a stack is reachable, say which procedures it has. */
async function unknownCommand(word: string, options: GlobalOptions): Promise<void> {
    await handle(async () => {
        const ctx = await StackContext.open(options);
        resolveProcedure(ctx.name, await ctx.spec(), word, [], {});
    });
}

export async function main(argv: string[]): Promise<void> {
    const program = buildProgram();
    try {
        await program.parseAsync(argv);
    } catch (err) {
        if (!(err instanceof CommanderError)) {
            throw err;
        }
        if (err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version") {
            process.exitCode = EXIT.OK;
        } else if (err.code === "commander.unknownCommand") {
            const word = program.args[0] ?? "";
            await unknownCommand(word, program.opts() as GlobalOptions);
        } else {
            process.stderr.write("(run with --help for usage)\n");
            process.exitCode = EXIT.USAGE;
        }
    }
}
