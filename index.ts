// Read config, build the spec, create components, export outputs: nothing else.
import * as pulumi from "@pulumi/pulumi";
import { readStackSettings } from "./config";
import { PrivateNetwork } from "./components/network";
import { Postgres } from "./components/postgres";
import { Redis } from "./components/redis";
import { AppService } from "./components/service";
import { StackSecrets } from "./components/secrets";
import { generatedSecretSpecs, serviceEnvContract, serviceSecretEnv } from "./components/wiring";

const { project, stack, spec, userSecrets } = readStackSettings();
const identity = { project, stack };

const generated = generatedSecretSpecs(spec);
const secrets = new StackSecrets("secrets", {
    generated,
    // Keys that encrypt data (64-hex keys) are never deleted or replaced by accident.
    protectedNames: Object.keys(generated).filter((name) => generated[name].kind === "hex64"),
});
const secretValues = { ...secrets.values, ...userSecrets };

const network = new PrivateNetwork("network", { identity });

const postgres = new Postgres("postgres", {
    identity,
    networkName: network.networkName,
    image: spec.images.postgres,
    memoryMb: spec.postgres.memoryMb,
    database: spec.postgres.database,
    keepDataOnDestroy: spec.postgres.keepDataOnDestroy,
});

const redis = spec.redis.enabled
    ? new Redis("redis", {
          identity,
          networkName: network.networkName,
          image: spec.images.redis,
          memoryMb: spec.redis.memoryMb,
          keepDataOnDestroy: spec.redis.keepDataOnDestroy,
      })
    : undefined;

const services = Object.entries(spec.services).map(
    ([name, svc]) =>
        [
            name,
            new AppService(
                name,
                {
                    identity,
                    networkName: network.networkName,
                    image: svc.image ?? spec.images.app,
                    imageKey: svc.image ? `opsbook:services.${name}.image` : "opsbook:images.app",
                    command: svc.command,
                    port: svc.port,
                    healthPath: svc.healthPath,
                    publish: svc.publish,
                    env: svc.env,
                    secretEnv: serviceSecretEnv(svc, { databaseUrl: postgres.adminUrl, redisUrl: redis?.url }, secretValues),
                    envContract: serviceEnvContract(svc),
                    memoryMb: svc.memoryMb,
                    cpus: svc.cpus,
                    replicas: svc.replicas,
                },
                // Dependencies must be healthy before a service starts: Postgres and Redis containers
                // only count as created once their health checks pass.
                { dependsOn: redis ? [postgres, redis] : [postgres] },
            ),
        ] as const,
);

/** Base URL of each published service, on 127.0.0.1. */
export const endpoints = pulumi
    .all(services.map(([name, svc]) => svc.url.apply((url) => [name, url] as const)))
    .apply((pairs) => Object.fromEntries(pairs.filter(([, url]) => url !== undefined)));
/** Health URL of each published service. */
export const healthChecks = pulumi
    .all(services.map(([name, svc]) => pulumi.all([svc.url]).apply(([url]) => [name, url ? `${url}${spec.services[name].healthPath}` : undefined] as const)))
    .apply((pairs) => Object.fromEntries(pairs.filter(([, url]) => url !== undefined)));
export const postgresContainer = postgres.containerName;
export const postgresVolume = postgres.volumeName;
export const redisContainer = redis?.containerName;
export const networkName = network.networkName;
