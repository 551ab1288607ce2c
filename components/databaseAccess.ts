import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { OneShotRun } from "../providers/oneShot";
import { GeneratedSecretValue } from "../providers/random";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";
import { POSTGRES_HOST, POSTGRES_PORT } from "./postgres";
import { scramVerifier } from "./scram";

export interface DatabaseAccessArgs {
    /** Which stack the roles belong to. */
    readonly identity: StackIdentity;
    /** The stack network, where Postgres answers as `postgres`. */
    readonly networkName: pulumi.Input<string>;
    /** The Postgres image: its psql applies the grants from inside the network. */
    readonly postgresImage: LocalImage;
    /** Superuser URL (secret). */
    readonly adminUrl: pulumi.Input<string>;
    /** The database the app uses. */
    readonly database: string;
    /** Rotation stamps of the two role passwords. Default `initial`. */
    readonly migratorPasswordRotation?: string;
    readonly appPasswordRotation?: string;
}

/** Role names derive from the database, so two databases of one server never share a role. */
export function roleNames(database: string): { migrator: string; app: string } {
    return { migrator: `${database}_migrator`, app: `${database}_app` };
}

function literal(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The SQL that makes the grants true, idempotently: the migration role owns the database and its
 * schema; the app role may read and write rows but not change the schema; nobody else connects.
 * Pure, so tests can read it.
 */
export function accessSql(database: string, migratorVerifier: string, appVerifier: string): string {
    const { migrator, app } = roleNames(database);
    return [
        // Errors must not echo statements (they hold verifiers) into the server log.
        "SET log_min_error_statement = panic;",
        `DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(migrator)}) THEN CREATE ROLE "${migrator}"; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(app)}) THEN CREATE ROLE "${app}"; END IF;
END $$;`,
        `ALTER ROLE "${migrator}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal(migratorVerifier)};`,
        `ALTER ROLE "${app}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal(appVerifier)};`,
        `ALTER DATABASE "${database}" OWNER TO "${migrator}";`,
        `REVOKE ALL ON DATABASE "${database}" FROM PUBLIC;`,
        `GRANT CONNECT, TEMPORARY ON DATABASE "${database}" TO "${app}";`,
        `ALTER SCHEMA public OWNER TO "${migrator}";`,
        `REVOKE CREATE ON SCHEMA public FROM PUBLIC;`,
        // Tables made before the roles existed (an earlier release migrated as the superuser)
        // move to the migration role, so it can alter them from now on.
        `DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner <> ${literal(migrator)} LOOP
    EXECUTE format('ALTER TABLE public.%I OWNER TO %I', r.tablename, ${literal(migrator)});
  END LOOP;
  FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND sequenceowner <> ${literal(migrator)} LOOP
    EXECUTE format('ALTER SEQUENCE public.%I OWNER TO %I', r.sequencename, ${literal(migrator)});
  END LOOP;
END $$;`,
        `GRANT USAGE ON SCHEMA public TO "${app}";`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "${app}";`,
        `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "${app}";`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE "${migrator}" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "${app}";`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE "${migrator}" IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "${app}";`,
    ].join("\n");
}

/**
 * Least-privilege access to the app's database: a migration role that owns the schema and an app
 * role that can only read and write rows. Applied by psql in a one-shot container on the stack
 * network, so Postgres publishes no port; re-applied whenever a password or the grants change.
 */
export class DatabaseAccess extends pulumi.ComponentResource {
    /** URL of the migration role (secret). */
    public readonly migratorUrl: pulumi.Output<string>;
    /** URL of the app role (secret). */
    public readonly appUrl: pulumi.Output<string>;
    /** The step that applies the grants; depend on it before connecting with the roles. */
    public readonly applied: pulumi.Resource;

    constructor(name: string, args: DatabaseAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:DatabaseAccess", name, {}, opts);
        if (!/^[a-z_][a-z0-9_]{0,40}$/.test(args.database)) {
            throw new pulumi.ResourceError("`postgres.database` must be a lower-case SQL identifier of at most 40 characters.", this);
        }
        const roles = roleNames(args.database);
        const migratorPassword = new GeneratedSecretValue(
            `${name}-migrator-password`,
            { length: 32, alphabet: "alphanumeric", rotation: args.migratorPasswordRotation ?? "initial" },
            { parent: this },
        ).value;
        const appPassword = new GeneratedSecretValue(
            `${name}-app-password`,
            { length: 32, alphabet: "alphanumeric", rotation: args.appPasswordRotation ?? "initial" },
            { parent: this },
        ).value;
        const sql = pulumi.secret(
            pulumi
                .all([migratorPassword, appPassword])
                .apply(([m, a]) => accessSql(args.database, scramVerifier(roles.migrator, m), scramVerifier(roles.app, a))),
        );
        const apply = new OneShotRun(
            `${name}-grants`,
            {
                name: engineName(args.identity, "grants"),
                image: args.postgresImage.id,
                imageName: args.postgresImage.reference,
                // The SQL and the URL travel as env, never as arguments (argv is visible to `ps`).
                command: ["sh", "-c", 'printf "%s" "$OPSBOOK_SQL" | psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse "$OPSBOOK_ADMIN_URL"'],
                env: {},
                secretEnv: { OPSBOOK_SQL: sql, OPSBOOK_ADMIN_URL: args.adminUrl },
                labels: stackLabels(args.identity, "grants"),
                networks: [{ name: args.networkName, aliases: [] }],
                memoryMb: 64,
                user: "999",
                timeoutSeconds: 120,
                // A digest of the SQL: new passwords or grants apply again; nothing else does.
                release: sql.apply((s) => crypto.createHash("sha256").update(s).digest("hex")),
                role: "job",
                envContract: EMPTY_ENV_CONTRACT,
            },
            { parent: this },
        );
        const url = (role: string, password: pulumi.Output<string>) =>
            pulumi.secret(pulumi.interpolate`postgres://${role}:${password}@${POSTGRES_HOST}:${POSTGRES_PORT}/${args.database}`);
        this.migratorUrl = url(roles.migrator, migratorPassword);
        this.appUrl = url(roles.app, appPassword);
        this.applied = apply;
        this.registerOutputs({ migratorUrl: this.migratorUrl, appUrl: this.appUrl });
    }
}
