// Read config, build the spec, create components, export outputs: nothing else.
// An async entry point, so that everything that can be wrong with the input (the spec, plain-text
// secrets, missing images) is reported before the first resource is registered.
import * as pulumi from "@pulumi/pulumi";
import { readStackSettings } from "./config";
import { LocalImage, resolveLocalImages } from "./components/images";
import { PrivateNetwork } from "./components/network";
import { Postgres } from "./components/postgres";
import { Redis } from "./components/redis";
import { StackSecrets } from "./components/secrets";
import { AppService } from "./components/service";
import { generatedSecretSpecs, serviceEnvContract, serviceSecretEnv } from "./components/wiring";

export = async () => {
    const { project, stack, spec, userSecrets } = readStackSettings();
    const identity = { project, stack };

    const refs: Record<string, string> = {
        "opsbook:images.postgres": spec.images.postgres,
        ...(spec.redis.enabled ? { "opsbook:images.redis": spec.images.redis } : {}),
    };
    for (const [name, svc] of Object.entries(spec.services)) {
        refs[svc.image ? `opsbook:services.${name}.image` : "opsbook:images.app"] = svc.image ?? spec.images.app;
    }
    const ids = await resolveLocalImages(refs);
    const image = (key: string): LocalImage => ({ reference: refs[key], id: ids[key] });

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
        image: image("opsbook:images.postgres"),
        memoryMb: spec.postgres.memoryMb,
        database: spec.postgres.database,
        keepDataOnDestroy: spec.postgres.keepDataOnDestroy,
    });

    const redis = spec.redis.enabled
        ? new Redis("redis", {
              identity,
              networkName: network.networkName,
              image: image("opsbook:images.redis"),
              memoryMb: spec.redis.memoryMb,
              keepDataOnDestroy: spec.redis.keepDataOnDestroy,
          })
        : undefined;

    const services = Object.entries(spec.services).map(([name, svc]) => {
        const service = new AppService(
            name,
            {
                identity,
                networkName: network.networkName,
                image: image(svc.image ? `opsbook:services.${name}.image` : "opsbook:images.app"),
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
            // A service starts only once Postgres and Redis pass their health checks: their
            // containers count as created only then.
            { dependsOn: redis ? [postgres, redis] : [postgres] },
        );
        return { name, healthPath: svc.healthPath, service };
    });

    const published = (pick: (url: string, healthPath: string) => string) =>
        pulumi
            .all(services.map(({ name, healthPath, service }) => service.url.apply((url) => [name, url ? pick(url, healthPath) : undefined] as const)))
            .apply((pairs) => Object.fromEntries(pairs.filter(([, url]) => url !== undefined)));

    return {
        /** Base URL of each published service, on 127.0.0.1. */
        endpoints: published((url) => url),
        /** Health URL of each published service. */
        healthChecks: published((url, path) => `${url}${path}`),
        postgresContainer: postgres.containerName,
        postgresVolume: postgres.volumeName,
        redisContainer: redis?.containerName,
        networkName: network.networkName,
    };
};
