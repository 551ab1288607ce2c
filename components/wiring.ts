// How a service's spec becomes its environment and env contract. Pure, so tests need no engine.
import * as pulumi from "@pulumi/pulumi";
import { EnvContract } from "./envContract";
import { ScheduledCall } from "./scheduler";
import { GeneratedSecretSpec, previousName } from "./secrets";
import { ServiceSpec, Spec } from "./spec";

export interface DependencyUrls {
    /** URL of the database the service connects to (secret); undefined when the stack has no Postgres. */
    readonly databaseUrl?: pulumi.Input<string>;
    /** URL of Redis (secret); undefined when the stack has no Redis. */
    readonly redisUrl?: pulumi.Input<string>;
}

/** The generated secrets the services declare, one per env name, with their rotation stamps. */
export function generatedSecretSpecs(spec: Pick<Spec, "services" | "rotation">): Record<string, GeneratedSecretSpec> {
    const generated: Record<string, GeneratedSecretSpec> = {};
    for (const svc of Object.values(spec.services)) {
        for (const [name, source] of Object.entries(svc.secretEnv)) {
            if (source === "generated" || source === "generated-hex64") {
                generated[name] = {
                    kind: source === "generated-hex64" ? "hex64" : "alphanumeric",
                    rotation: spec.rotation[name] ?? "initial",
                };
            }
        }
    }
    return generated;
}

/**
 * The secret env of one service: DATABASE_URL and REDIS_URL for the dependencies it `uses`, then
 * each declared secret from the stack's generated values or the user's config. A declared
 * user secret that is not set is left out: the policy pack reports it with the command to set it.
 */
export function serviceSecretEnv(
    svc: Pick<ServiceSpec, "uses" | "secretEnv">,
    urls: DependencyUrls,
    values: Record<string, pulumi.Input<string>>,
): Record<string, pulumi.Input<string>> {
    const env: Record<string, pulumi.Input<string>> = {};
    if (svc.uses.includes("postgres") && urls.databaseUrl !== undefined) {
        env.DATABASE_URL = urls.databaseUrl;
    }
    if (svc.uses.includes("redis") && urls.redisUrl !== undefined) {
        env.REDIS_URL = urls.redisUrl;
    }
    for (const [name, source] of Object.entries(svc.secretEnv)) {
        const value = values[name];
        if (value !== undefined) {
            env[name] = value;
        }
        // The previous encryption key, so data encrypted before a rotation stays readable.
        const previous = values[previousName(name)];
        if (source === "generated-hex64" && previous !== undefined) {
            env[previousName(name)] = previous;
        }
    }
    return env;
}

/** The contract the policy pack checks: the spec's own, plus what the secret sources imply. */
export function serviceEnvContract(svc: Pick<ServiceSpec, "contract" | "secretEnv">): EnvContract {
    const required = new Set(svc.contract.required);
    const formats = { ...svc.contract.formats };
    for (const [name, source] of Object.entries(svc.secretEnv)) {
        if (source === "config") {
            required.add(name);
        }
        if (source === "generated-hex64") {
            formats[name] = formats[name] ?? "hex64";
            formats[previousName(name)] = "hex64";
        }
    }
    return {
        required: [...required].sort(),
        anyOf: svc.contract.anyOf,
        formats,
        equalAcrossServices: svc.contract.equalAcrossServices,
        requiredInProduction: svc.contract.requiredInProduction,
    };
}

/** Every image the stack runs, by the config key it comes from (named in errors). */
export function imageKeys(spec: Spec): Record<string, string> {
    const refs: Record<string, string> = {};
    if (spec.postgres.enabled) {
        refs["opsbook:images.postgres"] = spec.images.postgres;
    }
    if (spec.redis.enabled) {
        refs["opsbook:images.redis"] = spec.images.redis;
    }
    if (spec.migrations?.image) {
        refs["opsbook:migrations.image"] = spec.migrations.image;
    }
    const needsAppImage =
        Object.values(spec.services).some((svc) => !svc.image) || (spec.migrations && !spec.migrations.image) || Object.keys(spec.jobs).length > 0;
    if (needsAppImage) {
        refs["opsbook:images.app"] = spec.images.app;
    }
    if (publishedServices(spec).length > 0) {
        refs["opsbook:images.gateway"] = spec.images.gateway;
    }
    for (const [name, svc] of Object.entries(spec.services)) {
        if (svc.image) {
            refs[`opsbook:services.${name}.image`] = svc.image;
        }
    }
    return refs;
}

/** The jobs as the scheduler runs them: URLs on the stack network, secrets by name only. */
export function scheduledCalls(spec: Pick<Spec, "jobs" | "services">): ScheduledCall[] {
    return Object.entries(spec.jobs).map(([name, job]) => ({
        name,
        schedule: job.schedule,
        method: job.method,
        url: `http://${job.service}:${spec.services[job.service].port}${job.path}`,
        secretHeader: job.secretHeader,
    }));
}

/** What the preflight sees: the env and secrets of every service that uses the database. */
export function preflightInputs(
    spec: Pick<Spec, "services">,
    urls: DependencyUrls,
    values: Record<string, pulumi.Input<string>>,
): { preflightEnv: Record<string, string>; preflightSecretEnv: Record<string, pulumi.Input<string>> } {
    const dbServices = Object.values(spec.services).filter((svc) => svc.uses.includes("postgres"));
    return {
        preflightEnv: Object.assign({}, ...dbServices.map((svc) => svc.env)),
        preflightSecretEnv: Object.assign({}, ...dbServices.map((svc) => serviceSecretEnv(svc, urls, values))),
    };
}

/** Services reachable from outside the stack network, through the gateway. */
export function publishedServices(spec: Pick<Spec, "services">): string[] {
    return Object.entries(spec.services)
        .filter(([, svc]) => svc.publish ?? svc.kind === "http")
        .map(([name]) => name)
        .sort();
}

/**
 * The env the stack-wide modes add to every app service, over the service's own env: the
 * reference app's (and seeds 002/004's) `MAINTENANCE_MODE` and `READ_ONLY`. Nothing when a mode
 * is off, so a preset's own `MAINTENANCE_MODE: "false"` stays as it is and no service rolls.
 */
export function stackModeEnv(spec: Pick<Spec, "maintenance" | "readOnly">): Record<string, string> {
    return {
        ...(spec.maintenance ? { MAINTENANCE_MODE: "true" } : {}),
        ...(spec.readOnly ? { READ_ONLY: "true" } : {}),
    };
}
