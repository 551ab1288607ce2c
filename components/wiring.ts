// How a service's declared dependencies become its environment. Pure, so tests need no engine.
import * as pulumi from "@pulumi/pulumi";
import { ServiceSpec } from "./spec";

export interface DependencyUrls {
    /** URL of the database the service connects to (secret). */
    readonly databaseUrl: pulumi.Input<string>;
    /** URL of Redis (secret); undefined when the stack has no Redis. */
    readonly redisUrl?: pulumi.Input<string>;
}

/** DATABASE_URL and REDIS_URL for exactly the dependencies a service declares in `uses`. */
export function serviceSecretEnv(svc: Pick<ServiceSpec, "uses">, urls: DependencyUrls): Record<string, pulumi.Input<string>> {
    const env: Record<string, pulumi.Input<string>> = {};
    if (svc.uses.includes("postgres")) {
        env.DATABASE_URL = urls.databaseUrl;
    }
    if (svc.uses.includes("redis") && urls.redisUrl !== undefined) {
        env.REDIS_URL = urls.redisUrl;
    }
    return env;
}
