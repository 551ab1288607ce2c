// How a service's spec becomes its environment and env contract. Pure, so tests need no engine.
import * as pulumi from "@pulumi/pulumi";
import { EnvContract } from "./envContract";
import { GeneratedSecretSpec } from "./secrets";
import { ServiceSpec, Spec } from "./spec";

export interface DependencyUrls {
    /** URL of the database the service connects to (secret). */
    readonly databaseUrl: pulumi.Input<string>;
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
    if (svc.uses.includes("postgres")) {
        env.DATABASE_URL = urls.databaseUrl;
    }
    if (svc.uses.includes("redis") && urls.redisUrl !== undefined) {
        env.REDIS_URL = urls.redisUrl;
    }
    for (const name of Object.keys(svc.secretEnv)) {
        const value = values[name];
        if (value !== undefined) {
            env[name] = value;
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
