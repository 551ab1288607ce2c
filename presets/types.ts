// A preset is a spec fragment in the same shape as stack config: the stack's own keys are merged
// over it, so a stack can pick a preset and override any part of it.
export type PresetSpec = Record<string, unknown>;

/** The reference app's migrate command; the real apps' own commands go in `migrations.command`. */
export const MIGRATE = ["node", "/app/dist/main.js", "migrate"];
export const PREFLIGHT = ["node", "/app/dist/main.js", "preflight"];

/**
 * A runbook procedure a preset declares, as data: the `opsbook` CLI runs it on a stack of that
 * preset (`opsbook <name> [args]`): SQL and HTTP through a task of the stack's own tool image on
 * the stack's data network, so they need nothing inside the team's images and no port published;
 * a `command` is the app's own (its runbook names it), run in the service's running task.
 */
export interface ProcedureSpec {
    /** One line for `--help`: what the procedure does, in the runbook's words. */
    readonly description: string;
    /** Whether it changes anything: a changing procedure is previewed, confirmed and audited. */
    readonly changes: boolean;
    /** Positional arguments in order, each required and checked against its pattern before anything runs. */
    readonly arguments?: readonly ProcedureParameter[];
    /** Options (`--name value`), each with a default. */
    readonly options?: readonly (ProcedureParameter & { readonly default: string })[];
    readonly action: ProcedureAction;
}

export interface ProcedureParameter {
    /** Its name: psql variable `:'name'` in SQL, `{name}` in an HTTP body value. */
    readonly name: string;
    readonly description: string;
    /** A whole-value regular expression the argument must match (a guard, not a format hint). */
    readonly pattern: string;
}

export type ProcedureAction =
    /** A rotation of one of the stack's generated secrets through `pulumi up`, as `opsbook rotate` does. */
    | { readonly kind: "rotate"; readonly secret: string }
    /**
     * SQL run by psql as the service's own database role (its `DATABASE_URL` secret, mounted as a
     * file): rows yes, schema no. Arguments reach the script as psql variables, never spliced into it.
     */
    | { readonly kind: "sql"; readonly service: string; readonly sql: string }
    /**
     * An HTTP call to the service inside the stack network, with a bearer token read from one of
     * the service's own secret files (the value never leaves the engine).
     */
    | {
          readonly kind: "http";
          readonly service: string;
          readonly method: "GET" | "POST";
          readonly path: string;
          /** The env name of the secret that holds the bearer token, e.g. ADMIN_TOKEN. */
          readonly bearerSecret: string;
          /** JSON body; a value `{name}` is replaced by the argument of that name. */
          readonly body?: Readonly<Record<string, string>>;
      }
    /**
     * The app's own command, run in one of the service's running tasks (`docker exec`, argv form:
     * no shell), so it sees the service's env and secret files as the service does. An element
     * `{name}` is replaced by the argument of that name, as one argv element.
     */
    | { readonly kind: "command"; readonly service: string; readonly command: readonly string[] };

export type Procedures = Readonly<Record<string, ProcedureSpec>>;
