// Exit codes scripts can rely on, and the one error type that carries them. Every command ends
// through `CliError` or success; nothing else decides a code.

/** `opsbook`'s exit codes (also listed by `opsbook --help`). */
export const EXIT = {
    /** Done; for `status`: every service runs its desired tasks and every endpoint is healthy. */
    OK: 0,
    /** The procedure ran and failed (a failed `pulumi up`, a task that exited non-zero, an HTTP error). */
    FAILED: 1,
    /** Bad input: unknown command, service, procedure or secret, a missing or malformed argument. Nothing changed. */
    USAGE: 2,
    /** A changing procedure was not confirmed (declined, or no terminal and no `--yes`). Nothing changed. */
    NOT_CONFIRMED: 3,
    /** The stack or the engine cannot be reached: no such stack, no outputs yet, Docker not answering. */
    UNAVAILABLE: 4,
    /** `status` only: a service lacks tasks, an endpoint is unhealthy, an alert fires or a backup is stale. */
    DEGRADED: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  done (status: everything running and healthy)
  1  the procedure ran and failed
  2  bad input (unknown command, service, procedure, secret; missing argument); nothing changed
  3  not confirmed (declined, or no terminal and no --yes); nothing changed
  4  the stack or the Docker engine cannot be reached
  5  status: a service lacks tasks, an endpoint is unhealthy, an alert fires or a backup is stale`;

/** An error whose message is meant for the person at the terminal, with the exit code to end on. */
export class CliError extends Error {
    constructor(
        readonly exitCode: ExitCode,
        message: string,
    ) {
        super(message);
    }
}
