// The app spec: what a stack's config says, checked once, before any resource is registered.
// Pure: `parseSpec` takes the raw config objects and returns a typed spec or throws a SpecError
// that lists every problem with the config key it is under.
import * as pulumi from "@pulumi/pulumi";
import { Cron } from "croner";
import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";
import { TELEGRAM_API_BASE_URL, TELEGRAM_UPDATE_TYPES, webhookUrlProblem } from "../providers/telegramWebhook";
import { backupIssues, locationProblem, scheduleProblem } from "./backupPlan";
import { PITR_LIMITS } from "./pitrPlan";
import { LOCAL_ENGINE_HOST, knownHostsProblems, parseEngineHost } from "./engineHost";
import { ENGINE_TLS_KEYS } from "./engineTls";
import { OFFSITE_KEYS, OFFSITE_SECRETS, WAL_EVERY_LIMITS, offsiteKnownHostsProblems, parseOffsiteTarget } from "./offsitePlan";
import { MonitoringSchema, receiverSecrets } from "./monitoring/settings";

const imageRef = z
    .string()
    .regex(/^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
        message: "must be an image reference such as opsbook/app:1.4.2 or name@sha256:<digest>",
    });

// YAML turns `PORT: 8080` and `DEBUG: true` into a number and a boolean; env values are strings.
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: "env names are UPPER_SNAKE_CASE" });

const ImagesSchema = z
    .object({
        postgres: imageRef.default("opsbook/postgres:15"),
        redis: imageRef.default("opsbook/redis:7"),
        app: imageRef.default("opsbook/app:reference"),
        gateway: imageRef.default("opsbook/gateway:1"),
        backup: imageRef.default("opsbook/backup:1"),
        /** Prometheus, Alertmanager and the exporters (one image, see images/monitoring). */
        monitoring: imageRef.default("opsbook/monitoring:1"),
    })
    .strict();

/** One more server of the swarm (`opsbook:engine.nodes.<name>`). */
const NodeSchema = z
    .object({
        /** ssh://user@host[:port]: how the deploy reaches the node's engine (to join it and give it images). */
        host: z.string(),
        /** The node's host key, one known_hosts line (never skipped). */
        knownHosts: z.string().optional(),
        /** A private key file; by default the SSH agent's keys. */
        identityFile: z.string().regex(/^(\/|~\/)/, { message: "must be an absolute path (or start with ~/)" }).optional(),
        /** The address the node advertises to the swarm; default the host of `host`. */
        advertiseAddress: z.ipv4({ message: "must be the node's IPv4 address on the network the swarm's nodes share" }).optional(),
        /** Where this node's gateway publishes the endpoints, when it is one of `trafficNodes` (as `opsbook:engine.publishAddress` is for the manager). */
        publishAddress: z.ipv4({ message: "must be an IPv4 address of the node, such as 127.0.0.1 (the default) or the node's own address" }).default("127.0.0.1"),
    })
    .strict();

/** `opsbook:engine`: the Docker engine the stack deploys to (see components/engineHost.ts). */
const EngineSchema = z
    .object({
        host: z.string().default(LOCAL_ENGINE_HOST),
        /** ssh:// only: the server's host key, one known_hosts line. */
        knownHosts: z.string().optional(),
        /** ssh:// only: a private key file; by default the SSH agent's keys. */
        identityFile: z.string().regex(/^(\/|~\/)/, { message: "must be an absolute path (or start with ~/)" }).optional(),
        /**
         * The address on the engine's host that the gateway publishes the endpoints on: 127.0.0.1
         * (the default: reachable from that host only, e.g. through a reverse proxy or an SSH
         * tunnel) or an address of that host to serve from.
         */
        publishAddress: z.ipv4({ message: "must be an IPv4 address of the engine's host, such as 127.0.0.1 (the default) or the server's own address" }).default("127.0.0.1"),
        /**
         * More servers for the swarm, by a name of the user's choice: each reached over SSH (as
         * the manager is), joined to the manager's swarm with its join token, and given the
         * stack's images. Stateless services spread over every node.
         */
        nodes: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, { message: "must be a node name: lower case letters, digits and -, starting with a letter" }), NodeSchema).default({}),
        /** Where Postgres, Redis and every service with a volume run: `manager` (the default) or a name in `nodes`. */
        dataNode: z.string().default("manager"),
        /**
         * The nodes that receive traffic: each runs a gateway publishing every endpoint on its own
         * `publishAddress` (`manager`, the default, or names in `nodes`). The first one's URLs are
         * the stack's `endpoints`.
         */
        trafficNodes: z.array(z.string()).min(1, { message: "must name at least one node (`manager` is the default)" }).default(["manager"]),
        /**
         * The data network (Postgres, Redis, the services) is encrypted between nodes with IPsec
         * (Docker's `encrypted` overlay). `false` only for servers whose kernel has no IPsec ESP
         * (README, "Several servers"); read when the network is made, at the first deploy.
         */
        encryptDataNetwork: z.boolean().default(true),
    })
    .strict()
    .superRefine((engine, ctx) => {
        const known = () => `neither \`manager\` nor a node of \`opsbook:engine.nodes\` (${Object.keys(engine.nodes).join(", ") || "none"})`;
        if (engine.dataNode !== "manager" && !(engine.dataNode in engine.nodes)) {
            ctx.addIssue({ code: "custom", path: ["dataNode"], message: `names \`${engine.dataNode}\`, which is ${known()}` });
        }
        engine.trafficNodes.forEach((node, i) => {
            if (node !== "manager" && !(node in engine.nodes)) {
                ctx.addIssue({ code: "custom", path: ["trafficNodes", i], message: `names \`${node}\`, which is ${known()}` });
            } else if (engine.trafficNodes.indexOf(node) !== i) {
                ctx.addIssue({ code: "custom", path: ["trafficNodes", i], message: `names \`${node}\` twice; list each node once` });
            }
        });
        for (const [name, node] of Object.entries(engine.nodes)) {
            const parsed = parseEngineHost(node.host);
            if ("error" in parsed || parsed.kind !== "ssh") {
                ctx.addIssue({ code: "custom", path: ["nodes", name, "host"], message: "error" in parsed ? parsed.error : "must be ssh://user@host[:port]: a node is a server reached over SSH" });
                continue;
            }
            const keys = { knownHosts: `opsbook:engine.nodes.${name}.knownHosts`, host: `opsbook:engine.nodes.${name}.host`, what: "a node" };
            for (const message of knownHostsProblems(parsed, node.knownHosts, keys)) {
                ctx.addIssue({ code: "custom", path: ["nodes", name, "knownHosts"], message });
            }
        }
    })
    .superRefine((engine, ctx) => {
        const parsed = parseEngineHost(engine.host);
        if ("error" in parsed) {
            ctx.addIssue({ code: "custom", path: ["host"], message: parsed.error });
            return;
        }
        if (parsed.kind === "ssh") {
            for (const message of knownHostsProblems(parsed, engine.knownHosts)) {
                ctx.addIssue({ code: "custom", path: ["knownHosts"], message });
            }
        } else {
            for (const key of ["knownHosts", "identityFile"] as const) {
                if (engine[key] !== undefined) {
                    ctx.addIssue({ code: "custom", path: [key], message: "is only for an ssh:// engine; remove it, or set `opsbook:engine.host` to ssh://user@host" });
                }
            }
        }
    });

const PostgresSchema = z
    .object({
        enabled: z.boolean().default(true),
        memoryMb: z.number().int().min(128).default(512),
        database: z.string().regex(/^[a-z_][a-z0-9_]*$/).default("app"),
        keepDataOnDestroy: z.boolean().default(true),
    })
    .strict();

const RedisSchema = z
    .object({
        enabled: z.boolean().default(true),
        memoryMb: z.number().int().min(32).default(256),
        keepDataOnDestroy: z.boolean().default(true),
    })
    .strict();

/**
 * Where a secret env value comes from: `config` (required) and `config-optional` are set by the
 * user with `pulumi config set --secret NAME value`; `generated` (48 alphanumerics) and
 * `generated-hex64` (a 32-byte key as 64 hex characters) are made by the stack and rotate with
 * `opsbook:rotation`.
 */
export const SecretSourceSchema = z.enum(["config", "config-optional", "generated", "generated-hex64"]);
export type SecretSource = z.infer<typeof SecretSourceSchema>;

const envList = z.array(envName).default([]);

const ContractSchema = z
    .object({
        required: envList,
        anyOf: z.array(z.array(z.array(envName).min(1)).min(2)).default([]),
        formats: z.record(envName, z.enum(["hex64", "telegram-secret-token", "url"])).default({}),
        equalAcrossServices: envList,
        requiredInProduction: envList,
    })
    .strict();

/** Secrets the stack itself makes (not declared by a service); they rotate by stamp too. */
// The superuser password is not among them: Postgres reads it only when it creates the data
// directory, so a new value would lock the stack out of its own database.
/** Engine volume names the stack's own parts take (Postgres, Redis, the default backup location). */
export const RESERVED_VOLUME_NAMES = ["postgres-data", "redis-data", "backups", "prometheus-data", "alertmanager-data"];

export const STACK_GENERATED_SECRETS = ["POSTGRES_PASSWORD", "POSTGRES_MIGRATOR_PASSWORD", "POSTGRES_APP_PASSWORD", "REDIS_PASSWORD"];

/**
 * Words that make an env name a secret's when they end it: `JWT_SECRET`, `TELEGRAM_BOT_TOKEN`,
 * `DB_PASSWORD`, `API_KEY`, `AWS_SECRET_ACCESS_KEY`, `GOOGLE_APPLICATION_CREDENTIALS`. Only the last
 * word counts (after the suffixes below), so settings *about* a secret stay plain env:
 * `TOKEN_TTL`, `JWT_SECRET_FILE` (a path), `PASSWORD_MIN_LENGTH`, `OPENAI_MAX_TOKENS`, `API_KEY_HEADER`.
 */
const SECRET_WORDS = new Set(["SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "APIKEY", "KEY", "CREDENTIAL", "CREDENTIALS", "CREDS"]);
/** The same words glued to another one (`AUTHTOKEN`, `CLIENTSECRET`); not KEY, or MONKEY would count. */
const GLUED_SECRET_WORD = /(SECRET|TOKEN|PASSWORD|PASSWD|APIKEY)$/;
/** Suffixes that keep a name a secret's: its encoding, its rotation slot, a number. */
const SECRET_SUFFIXES = new Set(["B64", "BASE64", "HEX", "PEM", "DER", "JSON", "RAW", "VALUE", "BASE", "PREVIOUS", "OLD", "NEW", "CURRENT", "NEXT", "PRIMARY", "SECONDARY"]);
/** A `..._KEY` that is no secret: a public key, a site key, a database or routing key. */
const PUBLIC_KEY_QUALIFIERS = new Set(["PUBLIC", "PUBLISHABLE", "SITE", "ROUTING", "SORT", "PARTITION", "CACHE", "PRIMARY", "FOREIGN", "IDEMPOTENCY"]);

/**
 * Does an env name look like a secret's? The one rule the spec (plain `env` is refused) and the
 * policy pack share. The last word of the UPPER_SNAKE name, after encoding/rotation suffixes and
 * numbers (`PRIVATE_KEY_PEM`, `JWT_SECRET_PREVIOUS`, `API_KEY_2`), is SECRET, TOKEN, PASSWORD,
 * PASSWD, PASSPHRASE, APIKEY, CREDENTIAL(S), CREDS or KEY; a KEY after PUBLIC, PUBLISHABLE, SITE,
 * ROUTING, SORT, PARTITION, CACHE, PRIMARY, FOREIGN or IDEMPOTENCY is not one (`DYNAMIC_PUBLIC_KEY`).
 */
export function looksLikeSecretName(name: string): boolean {
    const words = name.toUpperCase().split("_").filter(Boolean);
    while (words.length > 1 && (SECRET_SUFFIXES.has(words[words.length - 1]) || /^\d+$/.test(words[words.length - 1]))) {
        words.pop();
    }
    const last = words[words.length - 1];
    if (last === undefined) {
        return false;
    }
    if (last === "KEY") {
        return !PUBLIC_KEY_QUALIFIERS.has(words[words.length - 2] ?? "");
    }
    return SECRET_WORDS.has(last) || GLUED_SECRET_WORD.test(last);
}

/** A URL that carries a password (`postgres://user:pw@host/db`, `redis://:pw@host`). */
export function isUrlWithPassword(value: string): boolean {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
        return false;
    }
    try {
        return new URL(value.trim()).password !== "";
    } catch {
        return false;
    }
}

/**
 * Why a plain env entry must be a secret instead (never quoting the value), or undefined: its
 * name looks like a secret's (`looksLikeSecretName`), or its value is a URL with a password.
 */
export function plainEnvSecretReason(name: string, value: string): string | undefined {
    if (looksLikeSecretName(name)) {
        return "looks like a secret";
    }
    if (isUrlWithPassword(value)) {
        return "is a URL with a password in it";
    }
    return undefined;
}

/** The services' `uses` cycles, each once, as names from the first declared member back to it. */
export function usesCycles(services: Record<string, { readonly uses: readonly string[] }>): string[][] {
    const cycles: string[][] = [];
    const seen = new Set<string>();
    const done = new Set<string>();
    const path: string[] = [];
    const visit = (name: string) => {
        path.push(name);
        for (const dep of services[name].uses) {
            // Self-use is reported on its own; postgres, redis and unknown names end the walk.
            if (dep === name || !(dep in services) || done.has(dep)) {
                continue;
            }
            const at = path.indexOf(dep);
            if (at >= 0) {
                const cycle = path.slice(at);
                const key = [...cycle].sort().join(" ");
                if (!seen.has(key)) {
                    seen.add(key);
                    cycles.push([...cycle, dep]);
                }
                continue;
            }
            visit(dep);
        }
        path.pop();
        done.add(name);
    };
    for (const name of Object.keys(services)) {
        if (!done.has(name)) {
            visit(name);
        }
    }
    return cycles;
}

const serviceName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, { message: "service names are lower-case words joined by -" });

const ServiceSchema = z
    .object({
        /** `http` serves requests (published by default); `worker` runs in the background (not published). */
        kind: z.enum(["http", "worker"]).default("http"),
        image: imageRef.optional(),
        command: z.array(z.string()).optional(),
        port: z.number().int().min(1).max(65535).default(8080),
        healthPath: z.string().startsWith("/", { message: "must start with /" }).default("/health"),
        /**
         * `http`: the stack's probe asks `http://127.0.0.1:<port><healthPath>` inside each task (any
         * image); `image`: the image's own HEALTHCHECK.
         */
        healthCheck: z.enum(["http", "image"]).default("http"),
        /** Port on 127.0.0.1 the gateway publishes the service at; default derived from the stack and service names. */
        hostPort: z.number().int().min(1024).max(65535).optional(),
        replicas: z.number().int().min(1).max(20).default(1),
        /**
         * `always`: the service keeps state in memory (a queue consumer); `unless-redis`: only while
         * it has no shared Redis (an in-process circuit breaker); `no`: scales freely.
         */
        singleInstance: z.enum(["no", "always", "unless-redis"]).default("no"),
        memoryMb: z.number().int().min(32).default(256),
        cpus: z.number().positive().max(64).optional(),
        publish: z.boolean().optional(),
        readOnlyRootFilesystem: z.boolean().default(true),
        env: z.record(envName, envValue).default({}),
        secretEnv: z.record(envName, SecretSourceSchema).default({}),
        contract: ContractSchema.default(ContractSchema.parse({})),
        /** `postgres`, `redis`, or other services that must be healthy first. */
        uses: z.array(z.string()).default([]),
        /**
         * Redis keys the service writes a heartbeat to (a Unix time in milliseconds or seconds), e.g.
         * seed 001's `worker:copy-trading:last-ping`; monitoring alerts when one is older than
         * `monitoring.thresholds.heartbeatStaleSeconds` or missing. The service must use Redis.
         */
        /**
         * Port of the service's Prometheus `/metrics` (seed 004's METRICS_PORT), scraped from every
         * task on the stack network; its `http_requests_total{status}` counts 5xx answers.
         */
        metricsPort: z.number().int().min(1).max(65535).optional(),
        heartbeats: z.array(z.string().regex(/^[^\s,=]{1,200}$/, { message: "must be a Redis key without spaces, commas or `=`" })).default([]),
        /** Named volumes of the stack mounted at paths, e.g. `{ data: /app/data }` for SQLite. */
        volumes: z
            .record(
                z
                    .string()
                    .regex(/^[a-z][a-z0-9-]{0,30}$/)
                    // The stack's own volumes have these names: a service mounting one would write
                    // into Postgres's data directory, Redis's append-only file or the backups.
                    .refine((v) => !RESERVED_VOLUME_NAMES.includes(v), { message: `is a volume the stack itself uses; pick another name (reserved: ${RESERVED_VOLUME_NAMES.join(", ")})` }),
                z.string().startsWith("/"),
            )
            .default({}),
    })
    .strict();

/** A refinement from a function that names the problem (or returns undefined). */
const checkedBy = (problem: (value: string) => string | undefined) => (value: string, ctx: z.RefinementCtx) => {
    const message = problem(value);
    if (message) {
        ctx.addIssue({ code: "custom", message });
    }
};

/**
 * How every schedule of the stack is read: croner (pinned in package.json), five fields (minute hour
 * day-of-month month day-of-week), UTC, never started. The reference app's scheduler
 * (app/src/cron.ts) and the backup agent (images/backup/agent/plan.js) use the same library with the
 * same options, so a job fires when the spec says it does. Day-of-month and day-of-week combine with
 * croner's default (`domAndDow: false`), Vixie cron's OR rule: when both are restricted a day matches
 * if either does. croner calls a field unrestricted only when it is exactly `*`: `0 3 *\/2 * 1` is
 * odd days OR Mondays (next after 2025-01-02: 2025-01-03 03:00), where Vixie's C code, which looks
 * only at the first character, would AND them (01-13).
 */
export const CRON_OPTIONS = Object.freeze({ mode: "5-part", utcOffset: 0, paused: true } as const);

/** A schedule as croner reads it; throws croner's reason when it is not one. */
export function cronSchedule(expression: string): Cron {
    // croner fills in its defaults on the options object it is given: give it a copy.
    return new Cron(expression, { ...CRON_OPTIONS });
}

/** What is wrong with a cron expression (croner's reason), or undefined. */
export function cronProblem(expression: string): string | undefined {
    const fields = expression.trim().split(/\s+/).filter(Boolean).length;
    if (!expression.trim().startsWith("@") && fields !== 5) {
        return `must be a 5-field cron expression (minute hour day-of-month month day-of-week) in UTC, e.g. \`0 21 * * *\`; it has ${fields} field${fields === 1 ? "" : "s"}`;
    }
    try {
        cronSchedule(expression);
        return undefined;
    } catch (err) {
        const reason = (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, "");
        return `is not a cron expression croner accepts (${reason}); write 5 fields (minute hour day-of-month month day-of-week) in UTC, e.g. \`0 21 * * *\``;
    }
}

const JobSchema = z
    .object({
        /** When to run, in the scheduler's time zone (UTC). */
        schedule: z.string().superRefine(checkedBy(cronProblem)),
        /** The service that receives the call. */
        service: serviceName,
        method: z.enum(["GET", "POST"]).default("POST"),
        path: z.string().startsWith("/", { message: "must start with /" }),
        /** A header carrying one of the service's secrets, e.g. X-Cron-Secret from EOD_CRON_SECRET. */
        secretHeader: z.object({ header: z.string().regex(/^[A-Za-z0-9-]+$/), secret: envName }).strict().optional(),
    })
    .strict();

const MigrationsSchema = z
    .object({
        /** The command that migrates the schema, run once per release before any service moves. */
        command: z.array(z.string()).min(1),
        /** A check that must pass before migrations run (the runbooks' preflight). */
        preflight: z.array(z.string()).min(1).optional(),
        /** Image to run it from; default the app image. */
        image: imageRef.optional(),
        timeoutSeconds: z.number().int().min(5).max(3600).default(300),
        /** Plain env of the preflight and migrate steps. */
        env: z.record(envName, envValue).default({}),
    })
    .strict();

/**
 * `opsbook:backups.offsite`: every backup also kept on another host, over SSH/SFTP, encrypted at
 * rest (restic). The private key and the encryption key are stack secrets (`OFFSITE_SSH_KEY`,
 * `OFFSITE_ENCRYPTION_KEY`), never spec keys: config.ts reads them.
 */
const OffsiteSchema = z
    .object({
        /** `sftp://user@host[:port]/absolute/path`: the directory that holds the encrypted repository. */
        target: z.string(),
        /** The off-site host's key as one known_hosts line: the only key accepted for it. */
        knownHosts: z.string().optional(),
        /**
         * Seconds between shipments of the pgBackRest repository (base backups + WAL archive)
         * off-site, with point-in-time recovery on. Default: `pointInTime.archiveTimeoutSeconds`
         * (60): a host loss then costs about two minutes of writes at most.
         */
        walEverySeconds: z
            .number({ message: `must be a whole number of seconds from ${WAL_EVERY_LIMITS.min} to ${WAL_EVERY_LIMITS.max}` })
            .int({ message: `must be a whole number of seconds from ${WAL_EVERY_LIMITS.min} to ${WAL_EVERY_LIMITS.max}` })
            .min(WAL_EVERY_LIMITS.min, { message: `must be from ${WAL_EVERY_LIMITS.min} to ${WAL_EVERY_LIMITS.max}: below ${WAL_EVERY_LIMITS.min} s restic's per-snapshot work (listing, index upload) would keep the link busy` })
            .max(WAL_EVERY_LIMITS.max, { message: `must be from ${WAL_EVERY_LIMITS.min} to ${WAL_EVERY_LIMITS.max}` })
            .optional(),
    })
    .strict()
    .superRefine((offsite, ctx) => {
        const parsed = parseOffsiteTarget(offsite.target);
        if ("error" in parsed) {
            ctx.addIssue({ code: "custom", path: ["target"], message: parsed.error });
            return;
        }
        for (const message of offsiteKnownHostsProblems(parsed, offsite.knownHosts)) {
            ctx.addIssue({ code: "custom", path: ["knownHosts"], message });
        }
    });
/** An integer key with its range in the message, so a refusal names what is possible. */
const rangedInt = (limits: { min: number; max: number; default: number }, why: string) =>
    z
        .number({ message: `must be a whole number from ${limits.min} to ${limits.max}` })
        .int({ message: `must be a whole number from ${limits.min} to ${limits.max}` })
        .min(limits.min, { message: `must be from ${limits.min} to ${limits.max}${why}` })
        .max(limits.max, { message: `must be from ${limits.min} to ${limits.max}` })
        .default(limits.default);

const PointInTimeSchema = z
    .object({
        /** WAL archiving and base backups with pgBackRest. Default: on when the stack has Postgres. */
        enabled: z.boolean().optional(),
        /** Full backups kept (pgBackRest's repo1-retention-full); the WAL they need is kept with them. Default 7. */
        keepFull: rangedInt(
            PITR_LIMITS.keepFull,
            ": with fewer than 2, the only proven backup is expired as soon as a new one ends, before a restore has proven the new one",
        ),
        /** Hours between full backups. Default 24 (with keepFull 7: a week of points to restore to). */
        fullEveryHours: rangedInt(PITR_LIMITS.fullEveryHours, ""),
        /** archive_timeout: the most seconds of writes a host loss costs beyond the archive. Default 60. */
        archiveTimeoutSeconds: rangedInt(PITR_LIMITS.archiveTimeoutSeconds, ": below 10 s each forced segment switch writes a mostly empty 16 MB file"),
    })
    .strict();

const BackupsSchema = z
    .object({
        /** Back up at all. Default: true when the stack has Postgres or a SQLite DATABASE_URL on a volume. */
        enabled: z.boolean().optional(),
        /** When to back up: 5-field cron, UTC, at least once every 31 days. Default `0 3 * * *`. */
        schedule: z.string().default("0 3 * * *").superRefine(checkedBy(scheduleProblem)),
        /** Keep every verified backup younger than this many days (failed ones too, for diagnosis). */
        keepDays: z.number().int().min(1).max(3650).default(7),
        /** Keep the newest verified backup of each of this many most recent weeks that have one. */
        keepWeeks: z.number().int().min(0).max(520).default(4),
        /** Keep the newest verified backup of each of this many most recent months that have one. */
        keepMonths: z.number().int().min(0).max(240).default(6),
        /** A stack volume name (default `backups`) or an absolute directory on the engine's host. */
        location: z.string().default("backups").superRefine(checkedBy(locationProblem)),
        /** Always true: a backup counts only once a restore has proven it. */
        verify: z
            .literal(true, {
                message:
                    "cannot be turned off: a backup counts (for retention, health and restore) only once it has been restored into a scratch database and checked; remove `verify`, and if verification is too slow for your database, back up less often with `schedule`",
            })
            .default(true),
        /** Memory limit of the backup agent in MiB. Default 256. */
        memoryMb: z.number().int().min(64).default(256),
        /** A copy of the backup location on another host (see OffsiteSchema). Default: none. */
        offsite: OffsiteSchema.optional(),
        /** Point-in-time recovery of Postgres with pgBackRest (see README, "Restore to a time"). */
        pointInTime: PointInTimeSchema.default(PointInTimeSchema.parse({})),
    })
    .strict();

const TelegramWebhookSchema = z
    .object({
        /** The http service Telegram calls; its TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET are used. */
        service: serviceName,
        /** Public HTTPS base URL that reaches the service through the team's reverse proxy. */
        publicUrl: z.string().superRefine((url, ctx) => {
            const problem = webhookUrlProblem(url);
            if (problem) {
                ctx.addIssue({ code: "custom", message: `${problem} (e.g. https://bot.example.net)` });
            }
        }),
        path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, { message: "must be a URL path starting with /, e.g. /webhook/telegram" }).default("/webhook/telegram"),
        allowedUpdates: z
            .array(z.enum(TELEGRAM_UPDATE_TYPES, { message: `must be one of the Bot API's update types: ${TELEGRAM_UPDATE_TYPES.join(", ")}` }))
            .refine((list) => new Set(list).size === list.length, { message: "lists an update type twice" })
            .default(["message", "callback_query"]),
        /** Drop the updates Telegram holds whenever the webhook is (re)registered. */
        dropPendingUpdates: z.boolean().default(false),
        maxConnections: z.number().int().min(1).max(100).default(40),
    })
    .strict();

const TelegramSchema = z
    .object({
        webhook: TelegramWebhookSchema.optional(),
        /** The Bot API server; a local Bot API server or a test fake instead of Telegram's. */
        apiBaseUrl: z
            .string()
            .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, { message: `must be an http(s) URL such as ${TELEGRAM_API_BASE_URL}` })
            .transform((url) => url.replace(/\/+$/, ""))
            .default(TELEGRAM_API_BASE_URL),
    })
    .strict();

export const SpecSchema = z
    .object({
        /** Which preset the stack starts from (merged under the stack's own keys). */
        preset: z
            .enum(["signal-bot", "copy-trading", "prediction-market", "market-watchdog", "energy-trading"], {
                message: "must be one of signal-bot, copy-trading, prediction-market, market-watchdog, energy-trading",
            })
            .optional(),
        /** The release label; change it to run migrations again with the same image. */
        release: z.union([z.string().min(1), z.number()]).transform(String).default("1"),
        engine: EngineSchema.default(EngineSchema.parse({})),
        images: ImagesSchema.default(ImagesSchema.parse({})),
        postgres: PostgresSchema.default(PostgresSchema.parse({})),
        redis: RedisSchema.default(RedisSchema.parse({})),
        /**
         * Maintenance mode (seed 002): every app service gets `MAINTENANCE_MODE=true` and answers 503
         * except on its health path. One key for the whole stack, so `opsbook maintenance on|off`
         * changes one value and the services follow it together.
         */
        maintenance: z.boolean().default(false),
        /** Read-only mode (seed 004, after a restore): every app service gets `READ_ONLY=true` and refuses writes. */
        readOnly: z.boolean().default(false),
        /** Rotation stamp per generated secret (by env name); change one to make a new value. */
        rotation: z.record(envName, z.union([z.string().min(1), z.number()]).transform(String)).default({}),
        migrations: MigrationsSchema.optional(),
        jobs: z.record(serviceName, JobSchema).default({}),
        telegram: TelegramSchema.default(TelegramSchema.parse({})),
        backups: BackupsSchema.default(BackupsSchema.parse({})),
        monitoring: MonitoringSchema.default(MonitoringSchema.parse({})),
        services: z
            .record(serviceName, ServiceSchema)
            .refine((s) => Object.keys(s).length > 0, { message: "declare at least one service" }),
    })
    .strict()
    .superRefine((spec, ctx) => {
        const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
        for (const name of Object.keys(spec.rotation)) {
            const generated =
                STACK_GENERATED_SECRETS.includes(name) || Object.values(spec.services).some((svc) => svc.secretEnv[name]?.startsWith("generated"));
            if (!generated) {
                issue(
                    ["rotation", name],
                    `names no generated secret; stamps rotate ${STACK_GENERATED_SECRETS.join(", ")} and secrets with source \`generated\` (user-supplied ones rotate with \`pulumi config set --secret\`)`,
                );
            }
        }
        const appRotation = spec.rotation.POSTGRES_APP_PASSWORD;
        if (appRotation !== undefined && !/^\d+$/.test(appRotation)) {
            issue(["rotation", "POSTGRES_APP_PASSWORD"], "must be a whole number (0, 1, 2, ...); increment it by one to rotate the app's database password");
        }
        for (const [name, stamp] of Object.entries(spec.rotation)) {
            const isKey = Object.values(spec.services).some((svc) => svc.secretEnv[name] === "generated-hex64");
            if (isKey && !/^\d+$/.test(stamp)) {
                issue(["rotation", name], "must be a whole number (0, 1, 2, ...) for an encryption key; increment it by one to rotate (the previous key stays available as " + name + "_PREVIOUS)");
            }
        }
        for (const [name, svc] of Object.entries(spec.services)) {
            for (const secret of Object.keys(svc.secretEnv)) {
                if (secret in svc.env) {
                    issue(["services", name, "env", secret], "is also declared in `secretEnv`; keep secrets only in `secretEnv`");
                }
            }
            for (const [env, value] of Object.entries(svc.env)) {
                const reason = env in svc.secretEnv ? undefined : plainEnvSecretReason(env, value);
                if (reason) {
                    issue(
                        ["services", name, "env", env],
                        `${reason}; move it to \`services.${name}.secretEnv.${env}: config\` and run \`pulumi config set --secret ${env} <value>\``,
                    );
                }
            }
            svc.uses.forEach((dep, i) => {
                if (dep === "postgres" && !spec.postgres.enabled) {
                    issue(["services", name, "uses", i], "is postgres, but `postgres.enabled` is false; enable Postgres or remove it from `uses`");
                } else if (dep === "redis" && !spec.redis.enabled) {
                    issue(["services", name, "uses"], "uses redis, but `redis.enabled` is false; enable Redis or remove it from `uses`");
                } else if (dep !== "postgres" && dep !== "redis" && !(dep in spec.services)) {
                    issue(["services", name, "uses", i], `names \`${dep}\`, which is neither postgres, redis nor a service of this stack`);
                } else if (dep === name) {
                    issue(["services", name, "uses", i], "names the service itself");
                }
            });
            if (svc.replicas > 1 && (svc.singleInstance === "always" || (svc.singleInstance === "unless-redis" && !svc.uses.includes("redis")))) {
                issue(
                    ["services", name, "replicas"],
                    svc.singleInstance === "always"
                        ? "must be 1 for a service that holds in-process state; set it to 1"
                        : "must be 1 for a service that holds in-process state; set it to 1 or add Redis to its `uses`",
                );
            }
            if (svc.heartbeats.length > 0 && (!svc.uses.includes("redis") || !spec.redis.enabled)) {
                issue(
                    ["services", name, "heartbeats"],
                    "are Redis keys, but the service does not use Redis; add `redis` to its `uses` (with `redis.enabled: true`) or remove `heartbeats`",
                );
            }
            if (svc.kind === "worker" && svc.publish === true) {
                issue(["services", name, "publish"], "a worker serves no traffic; remove `publish` or make the service `kind: http`");
            }
        }
        if (spec.monitoring.enabled) {
            for (const taken of ["prometheus", "alertmanager"]) {
                if (taken in spec.services) {
                    issue(["services", taken], `is the name the gateway publishes the stack's ${taken} under while \`monitoring.enabled\` is true; rename the service`);
                }
            }
        }
        for (const cycle of usesCycles(spec.services)) {
            issue(
                ["services", cycle[0], "uses"],
                `-> ${cycle.slice(1).join(" -> ")} is a cycle: each service waits for the next to be healthy, so none would start; remove one of these \`uses\``,
            );
        }
        for (const [env, value] of Object.entries(spec.migrations?.env ?? {})) {
            const reason = plainEnvSecretReason(env, value);
            if (reason) {
                issue(
                    ["migrations", "env", env],
                    `${reason}, and plain env is kept in clear in the stack's state; migrations get their secrets from the stack (the migration role's DATABASE_URL): remove it, or rename it if it is no secret`,
                );
            }
        }
        for (const [name, job] of Object.entries(spec.jobs)) {
            const target = spec.services[job.service];
            if (!target) {
                issue(["jobs", name, "service"], `names \`${job.service}\`, which is not a service of this stack`);
            } else if (target.kind !== "http") {
                issue(["jobs", name, "service"], `names \`${job.service}\`, a worker; jobs call an http service`);
            } else if (job.secretHeader && !(job.secretHeader.secret in target.secretEnv)) {
                issue(["jobs", name, "secretHeader", "secret"], `\`${job.secretHeader.secret}\` is not in \`services.${job.service}.secretEnv\`; the job must send the secret the service checks`);
            }
        }
        if (spec.migrations && !spec.postgres.enabled) {
            issue(["migrations"], "migrations need Postgres; enable `postgres` or remove `migrations`");
        }
        const hook = spec.telegram.webhook;
        const hookTarget = hook && spec.services[hook.service];
        if (hook && !hookTarget) {
            issue(["telegram", "webhook", "service"], `names \`${hook.service}\`, which is not a service of this stack`);
        } else if (hook && hookTarget) {
            const key = `\`services.${hook.service}.secretEnv\``;
            if (hookTarget.kind !== "http") {
                issue(["telegram", "webhook", "service"], `names \`${hook.service}\`, a worker; Telegram calls an http service`);
            }
            if (hookTarget.secretEnv.TELEGRAM_BOT_TOKEN !== "config") {
                issue(["telegram", "webhook", "service"], `names \`${hook.service}\`, whose ${key} must declare \`TELEGRAM_BOT_TOKEN: config\`: the webhook is registered with the bot token the user sets`);
            }
            const secretSource = hookTarget.secretEnv.TELEGRAM_WEBHOOK_SECRET;
            if (secretSource === undefined || secretSource === "config-optional") {
                issue(["telegram", "webhook", "service"], `names \`${hook.service}\`, whose ${key} must declare \`TELEGRAM_WEBHOOK_SECRET: generated\`: the service checks the secret token Telegram sends`);
            }
        }
        for (const problem of backupIssues(spec)) {
            issue(problem.path, problem.message);
        }
    });

export type Spec = z.infer<typeof SpecSchema>;
export type ServiceSpec = Spec["services"][string];

/**
 * Every problem in the config, each under its `opsbook:` key. A RunError, so the CLI prints the
 * message alone, without a stack trace, and registers nothing.
 */
export class SpecError extends pulumi.RunError {
    constructor(readonly problems: string[]) {
        super(`the stack config is not valid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    }
}

/** The config namespace of the spec: the project's name. */
export const CONFIG_NAMESPACE = "opsbook";

/** Top-level keys of the `opsbook:` namespace that make up the spec (config.ts reads exactly these). */
export const SPEC_KEYS = ["preset", "release", "maintenance", "readOnly", "engine", "images", "postgres", "redis", "rotation", "migrations", "jobs", "telegram", "backups", "monitoring", "services"] as const;

/** User-supplied secrets are config keys named like their env var. */
const SECRET_KEY_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** The candidate nearest to `word` (case-insensitively), when it is near enough to be a misspelling. */
function nearest(word: string, candidates: readonly string[]): string | undefined {
    if (candidates.length === 0) {
        return undefined;
    }
    const lower = word.toLowerCase();
    const lowered = candidates.map((c) => c.toLowerCase());
    const best = closest(lower, lowered);
    // One edit in three, and at least two: `servics`, `sevrices`, `job`, `TELEGRAM_BOT_TOKN`.
    return distance(lower, best) <= Math.max(2, Math.floor(word.length / 3)) ? candidates[lowered.indexOf(best)] : undefined;
}

/**
 * Problems with the keys set in a stack's config (all namespaces, as `namespace:key`, e.g. from
 * `pulumi.runtime.allConfig()`), so that a misspelt key is refused instead of silently ignored.
 * In the `opsbook:` namespace a key is either a spec key (`SPEC_KEYS`) or a user-supplied secret
 * named like its env var (UPPER_SNAKE), which some service must declare in `secretEnv` with source
 * `config` or `config-optional`, or an enabled alert receiver must name (`monitoring.receivers`).
 * Secrets are checked only once the spec is known (`spec`); other
 * namespaces belong to providers and the policy pack, not to us.
 */
export function configKeyProblems(keys: readonly string[], spec?: Pick<Spec, "services" | "monitoring"> & Partial<Pick<Spec, "backups" | "engine">>): string[] {
    const problems: string[] = [];
    const prefix = `${CONFIG_NAMESPACE}:`;
    const userSecrets = new Set<string>();
    // Secrets the stack makes, with where they are declared (nothing for its own).
    const generated = new Map<string, string>(STACK_GENERATED_SECRETS.map((name) => [name, ""]));
    // The alert receivers' secrets are user-supplied too (see monitoring/settings.ts).
    if (spec?.monitoring.enabled) {
        for (const secrets of Object.values(receiverSecrets(spec.monitoring))) {
            secrets.forEach((s) => userSecrets.add(s.name));
        }
    }
    // The off-site copy's key and encryption key (see config.ts).
    if (spec?.backups?.offsite) {
        OFFSITE_SECRETS.forEach((name) => userSecrets.add(name));
    }
    // A tcp:// engine's TLS material (components/engineTls.ts).
    const engineHost = spec?.engine ? parseEngineHost(spec.engine.host) : undefined;
    if (engineHost && "kind" in engineHost && engineHost.kind === "tcp") {
        Object.values(ENGINE_TLS_KEYS).forEach((name) => userSecrets.add(name));
    }
    for (const [service, svc] of Object.entries(spec?.services ?? {})) {
        for (const [name, source] of Object.entries(svc.secretEnv)) {
            if (source.startsWith("config")) {
                userSecrets.add(name);
            } else if (!generated.has(name)) {
                generated.set(name, ` (\`services.${service}.secretEnv.${name}: ${source}\`)`);
            }
        }
    }
    const specKeys: readonly string[] = SPEC_KEYS;
    for (const full of keys) {
        if (!full.startsWith(prefix)) {
            continue;
        }
        const key = full.slice(prefix.length);
        if (specKeys.includes(key)) {
            continue;
        }
        const specKeyMatch = specKeys.find((k) => k === key.toLowerCase());
        if (SECRET_KEY_NAME.test(key) && !specKeyMatch) {
            // PITR_REPOSITORY_KEY: the key of a repository restored after a host loss (see config.ts).
            if (spec === undefined || userSecrets.has(key) || key === OFFSITE_KEYS.repositoryKey) {
                continue;
            }
            const remove = `remove it with \`pulumi config rm ${key}\``;
            const maker = generated.get(key);
            if (maker !== undefined) {
                problems.push(
                    `\`${full}\` is set, but the stack generates \`${key}\`${maker}, so the value is never used; ${remove} ` +
                        `(rotate it with \`opsbook:rotation.${key}\`)`,
                );
                continue;
            }
            const guess = nearest(key, [...userSecrets]);
            problems.push(
                `\`${full}\`: no service declares \`secretEnv.${key}\`` +
                    (guess ? `; did you mean \`${guess}\`? ` : userSecrets.size > 0 ? ` (user-supplied secrets: ${[...userSecrets].map((n) => `\`${n}\``).join(", ")}); ` : "; ") +
                    `declare it in a service's \`secretEnv\` (source \`config\`) or ${remove}`,
            );
            continue;
        }
        const guess = specKeyMatch ?? nearest(key, specKeys);
        problems.push(
            guess
                ? `\`${full}\` is not a spec key; did you mean \`${prefix}${guess}\`?`
                : `\`${full}\` is not a spec key (${specKeys.map((k) => `\`${k}\``).join(", ")}) nor a secret named like an env var; remove it with \`pulumi config rm ${key}\``,
        );
    }
    return problems;
}

function keyOf(path: PropertyKey[]): string {
    return path.map(String).join(".");
}

/** Validates the raw config (one object per top-level key) and fills in the defaults. */
export function parseSpec(raw: Record<string, unknown>): Spec {
    const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
    const result = SpecSchema.safeParse(present);
    if (result.success) {
        return result.data;
    }
    const problems = result.error.issues.map((issue) => {
        const key = issue.path.length > 0 ? `\`opsbook:${keyOf(issue.path)}\`` : "`opsbook` config";
        if (issue.code === "unrecognized_keys") {
            return `${key}: unknown key(s) ${issue.keys.map((k) => `\`${k}\``).join(", ")}; remove them or check the spelling against the README's spec keys`;
        }
        if (issue.code === "invalid_key") {
            return `${key} ${issue.issues.map((i) => i.message).join("; ")}`;
        }
        if (issue.code === "invalid_type" && /received undefined/.test(issue.message)) {
            return `${key} is required; set it in Pulumi.<stack>.yaml`;
        }
        return `${key} ${issue.message}`;
    });
    throw new SpecError(problems);
}
