// The app spec: what a stack's config says, checked once, before any resource is registered.
// Pure: `parseSpec` takes the raw config objects and returns a typed spec or throws a SpecError
// that lists every problem with the config key it is under.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

const imageRef = z
    .string()
    .regex(/^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
        message: "must be an image reference such as opsbook/app:1.4.2 or name@sha256:<digest>",
    });

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: "env names are UPPER_SNAKE_CASE" });

const ImagesSchema = z
    .object({
        postgres: imageRef.default("opsbook/postgres:15"),
        redis: imageRef.default("opsbook/redis:7"),
        app: imageRef.default("opsbook/app:reference"),
    })
    .strict();

const PostgresSchema = z
    .object({
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

const ServiceSchema = z
    .object({
        image: imageRef.optional(),
        command: z.array(z.string()).optional(),
        port: z.number().int().min(1).max(65535).default(8080),
        healthPath: z.string().startsWith("/", { message: "must start with /" }).default("/health"),
        replicas: z.number().int().min(1).max(20).default(1),
        memoryMb: z.number().int().min(32).default(256),
        cpus: z.number().positive().max(64).optional(),
        publish: z.boolean().default(true),
        env: z.record(envName, z.string()).default({}),
        secretEnv: z.record(envName, SecretSourceSchema).default({}),
        contract: ContractSchema.default(ContractSchema.parse({})),
        uses: z.array(z.enum(["postgres", "redis"])).default([]),
    })
    .strict();

export const SpecSchema = z
    .object({
        images: ImagesSchema.default(ImagesSchema.parse({})),
        postgres: PostgresSchema.default(PostgresSchema.parse({})),
        redis: RedisSchema.default(RedisSchema.parse({})),
        /** Rotation stamp per generated secret (by env name); change one to make a new value. */
        rotation: z.record(envName, z.string().min(1)).default({}),
        services: z
            .record(z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, { message: "service names are lower-case words joined by -" }), ServiceSchema)
            .refine((s) => Object.keys(s).length > 0, { message: "declare at least one service" }),
    })
    .strict()
    .superRefine((spec, ctx) => {
        for (const name of Object.keys(spec.rotation)) {
            const generated = Object.values(spec.services).some((svc) => svc.secretEnv[name]?.startsWith("generated"));
            if (!generated) {
                ctx.addIssue({
                    code: "custom",
                    path: ["rotation", name],
                    message: "names no generated secret; only secrets with source `generated` rotate by stamp (user-supplied ones rotate with `pulumi config set --secret`)",
                });
            }
        }
        for (const [name, svc] of Object.entries(spec.services)) {
            for (const name of Object.keys(svc.secretEnv)) {
                if (name in svc.env) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["services", name, "env", name],
                        message: `is also declared in \`secretEnv\`; keep secrets only in \`secretEnv\``,
                    });
                }
            }
            if (svc.uses.includes("redis") && !spec.redis.enabled) {
                ctx.addIssue({
                    code: "custom",
                    path: ["services", name, "uses"],
                    message: "uses redis, but `redis.enabled` is false; enable Redis or remove it from `uses`",
                });
            }
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
        if (issue.code === "invalid_type" && issue.input === undefined) {
            return `${key} is required; set it in Pulumi.<stack>.yaml`;
        }
        return `${key} ${issue.message}`;
    });
    throw new SpecError(problems);
}
