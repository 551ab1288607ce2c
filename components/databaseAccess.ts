import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { OneShotRun } from "../providers/oneShot";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName, stackLabels } from "./naming";
import { POSTGRES_HOST, POSTGRES_PORT } from "./postgres";
import { scramVerifier } from "./scram";
import { jobSecretFiles, secretMount, secretRef, swarmSecret } from "./secretFiles";
import { generatedPassword } from "./secrets";

export interface DatabaseAccessArgs {
    /** Which stack the roles belong to. */
    readonly identity: StackIdentity;
    /** The stack network, where Postgres answers as `postgres`. */
    readonly network: StackNetwork;
    /** The Postgres image: its psql applies the grants from inside the stack's data network. */
    readonly postgresImage: LocalImage;
    /** The superuser's name. */
    readonly adminUser: pulumi.Input<string>;
    /** The superuser's password (secret): it reaches psql as a password file, never as an argument. */
    readonly adminPassword: pulumi.Input<string>;
    /** The database the app uses. */
    readonly database: string;
    /** Rotation stamp of the migration role's password. Default `initial`. */
    readonly migratorPasswordRotation?: string;
    /**
     * Rotation count of the app's password: a whole number, default 0. Each increment moves the
     * services to the other login role with a new password (see `appLoginSlots`).
     */
    readonly appPasswordRotation?: string;
}

/**
 * Role names derive from the database, so two databases of one server never share a role.
 * `app` is a group that holds the privileges; `logins` are the two login roles that take turns.
 */
export function roleNames(database: string): { migrator: string; app: string; logins: [string, string] } {
    return { migrator: `${database}_migrator`, app: `${database}_app`, logins: [`${database}_app_blue`, `${database}_app_green`] };
}

/**
 * Which login role the services use, and the rotation key of each role's password, for rotation
 * count `n`. Rotation n gives the active role (n even: blue, odd: green) the password of key n
 * and leaves the other role's password as it was (key n-1). So a rotation changes only the idle
 * role's password, moves the services to it, and the role the running services use stays valid
 * until the next rotation: no request fails while the services roll. Pure.
 */
export function appLoginSlots(n: number): { active: 0 | 1; keys: [string, string] } {
    const active = (n % 2) as 0 | 1;
    const keys: [string, string] = active === 0 ? [String(n), String(n - 1)] : [String(n - 1), String(n)];
    return { active, keys };
}

function literal(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The SQL that makes the grants true, idempotently: the migration role owns the database and its
 * schema; the app role may read and write rows but not change the schema; nobody else connects.
 * Pure, so tests can read it.
 */
export function accessSql(database: string, migratorVerifier: string, loginVerifiers: [string, string]): string {
    const { migrator, app, logins } = roleNames(database);
    return [
        // Errors must not echo statements (they hold verifiers) into the server log.
        "SET log_min_error_statement = panic;",
        `DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(migrator)}) THEN CREATE ROLE "${migrator}"; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(app)}) THEN CREATE ROLE "${app}"; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(logins[0])}) THEN CREATE ROLE "${logins[0]}"; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${literal(logins[1])}) THEN CREATE ROLE "${logins[1]}"; END IF;
END $$;`,
        `ALTER ROLE "${migrator}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal(migratorVerifier)};`,
        // The group holds the privileges and cannot log in; the two login roles inherit them.
        `ALTER ROLE "${app}" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD NULL;`,
        `ALTER ROLE "${logins[0]}" WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal(loginVerifiers[0])};`,
        `ALTER ROLE "${logins[1]}" WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${literal(loginVerifiers[1])};`,
        `GRANT "${app}" TO "${logins[0]}", "${logins[1]}";`,
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
    /** URL of the app's active login role (secret). */
    public readonly appUrl: pulumi.Output<string>;
    /** The login role the services use now. */
    public readonly appLogin: string;
    /** The step that applies the grants; depend on it before connecting with the roles. */
    public readonly applied: pulumi.Resource;

    constructor(name: string, args: DatabaseAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:DatabaseAccess", name, {}, opts);
        if (!/^[a-z_][a-z0-9_]{0,40}$/.test(args.database)) {
            throw new pulumi.ResourceError("`postgres.database` must be a lower-case SQL identifier of at most 40 characters.", this);
        }
        const roles = roleNames(args.database);
        const migratorPassword = generatedPassword(`${name}-migrator-password`, 32, args.migratorPasswordRotation ?? "initial", { parent: this });
        const rotation = Number(args.appPasswordRotation ?? "0");
        if (!Number.isInteger(rotation) || rotation < 0) {
            throw new pulumi.ResourceError(
                "`opsbook:rotation.POSTGRES_APP_PASSWORD` must be a whole number (0, 1, 2, ...); increment it by one to rotate.",
                this,
            );
        }
        const slots = appLoginSlots(rotation);
        const loginPasswords = roles.logins.map((role, i) =>
            generatedPassword(`${name}-${role.endsWith("blue") ? "blue" : "green"}-password`, 32, slots.keys[i], { parent: this }),
        );
        const sql = pulumi.secret(
            pulumi
                .all([migratorPassword, loginPasswords[0], loginPasswords[1]])
                .apply(([m, blue, green]) =>
                    accessSql(args.database, scramVerifier(roles.migrator, m), [
                        scramVerifier(roles.logins[0], blue),
                        scramVerifier(roles.logins[1], green),
                    ]),
                ),
        );
        // psql reads the SQL (it holds password verifiers) and the superuser's password from
        // files mounted in the job: nothing secret on its command line or in its env.
        const passFile = pulumi.secret(pulumi.interpolate`${POSTGRES_HOST}:${POSTGRES_PORT}:*:${args.adminUser}:${args.adminPassword}\n`);
        const files = secretMount(
            {
                PGPASSFILE: secretRef("PGPASSFILE", swarmSecret(args.identity, "GRANTS_PGPASSFILE", passFile, { parent: this })),
                OPSBOOK_GRANTS_SQL: secretRef("OPSBOOK_GRANTS_SQL", swarmSecret(args.identity, "GRANTS_SQL", sql, { parent: this })),
            },
            { uid: "999", gid: "999" },
        );
        const apply = new OneShotRun(
            `${name}-grants`,
            {
                name: engineName(args.identity, "grants"),
                image: args.postgresImage.id,
                imageName: args.postgresImage.reference,
                command: ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse", "-f", "/run/secrets/OPSBOOK_GRANTS_SQL"],
                env: pulumi.output(args.adminUser).apply((user) => ({
                    PGHOST: POSTGRES_HOST,
                    PGPORT: String(POSTGRES_PORT),
                    PGUSER: user,
                    PGDATABASE: args.database,
                    PGPASSFILE: "/run/secrets/PGPASSFILE",
                    PGCONNECT_TIMEOUT: "10",
                })),
                secretFiles: jobSecretFiles(files),
                labels: stackLabels(args.identity, "grants"),
                networks: [args.network.name],
                memoryMb: 64,
                ...(args.identity.engine ? { engine: args.identity.engine } : {}),
            ...(args.identity.placement ? { constraints: [args.identity.placement.jobConstraint] } : {}),
                user: "999",
                timeoutSeconds: 120,
                // A digest of the SQL: new passwords or grants apply again; nothing else does.
                release: sql.apply((s) => crypto.createHash("sha256").update(s).digest("hex")),
                redact: pulumi.all([args.adminPassword, migratorPassword, loginPasswords[0], loginPasswords[1]]),
            },
            { parent: this },
        );
        const url = (role: string, password: pulumi.Output<string>) =>
            pulumi.secret(pulumi.interpolate`postgres://${role}:${password}@${POSTGRES_HOST}:${POSTGRES_PORT}/${args.database}`);
        this.migratorUrl = url(roles.migrator, migratorPassword);
        this.appUrl = url(roles.logins[slots.active], loginPasswords[slots.active]);
        this.appLogin = roles.logins[slots.active];
        this.applied = apply;
        this.registerOutputs({ migratorUrl: this.migratorUrl, appUrl: this.appUrl });
    }
}
