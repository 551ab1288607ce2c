// Read config, build the spec, create components, export outputs: nothing else.
// An async entry point, so that everything that can be wrong with the input (the spec, plain-text
// secrets, missing images) is reported before the first resource is registered.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { readStackSettings } from "./config";
import { connectEngine, connectNodes, nodeProvider, trafficNodes } from "./components/engine";
import { SwarmNodes } from "./components/swarmNodes";
import { LocalImage, resolveLocalImages } from "./components/images";
import { ImageDelivery } from "./providers/imageDelivery";
import { DatabaseAccess } from "./components/databaseAccess";
import { Migration } from "./components/migration";
import { engineName, labelList, stackLabels, stackPlacement } from "./components/naming";
import { StackNetworks } from "./components/networks";
import { Postgres } from "./components/postgres";
import { HealthProbe } from "./components/probe";
import { Redis } from "./components/redis";
import { JobScheduler } from "./components/scheduler";
import { SecretFiles } from "./components/secretFiles";
import { StackSecrets } from "./components/secrets";
import { AppService } from "./components/service";
import { Gateway, derivedHostPort, listenPorts } from "./components/gateway";
import { Monitoring } from "./components/monitoring/monitoring";
import { MONITORING_ENDPOINTS, MONITORING_PORTS, monitoringPlan } from "./components/monitoring/plan";
import { Backups } from "./components/backup";
import { BackupLocation } from "./components/backupLocation";
import { backupImageKeys, backupTargets, backupsEnabled, pointInTimeEnabled } from "./components/backupPlan";
import { defaultWalEverySeconds, parseOffsiteTarget } from "./components/offsitePlan";
import { checkOffsiteTarget } from "./components/offsitePreflight";
import { TelegramWebhookRegistration, telegramWebhookPlan } from "./components/webhook";
import {
    generatedSecretSpecs,
    imageKeys,
    preflightInputs,
    publishedServices,
    scheduledCalls,
    serviceEnvContract,
    serviceSecretEnv,
    stackModeEnv,
} from "./components/wiring";

/** The key under which the migration role's URL is kept; the migrations read it as DATABASE_URL. */
const MIGRATOR_URL_KEY = "MIGRATOR_DATABASE_URL";

export = async () => {
    const { project, stack, spec, userSecrets, probePath, alertReceivers, offsite, pitrRepositoryKey, engineTls } = readStackSettings();
    // The engine answers and is a swarm manager, or nothing is registered.
    const engine = await connectEngine(spec.engine, engineTls);
    // The off-site host answers, shows the configured host key and takes the key, or nothing is registered.
    const offsiteTarget = spec.backups.offsite && offsite ? parseOffsiteTarget(spec.backups.offsite.target) : undefined;
    if (offsiteTarget && !("error" in offsiteTarget) && offsite) {
        await checkOffsiteTarget(offsiteTarget, spec.backups.offsite?.knownHosts ?? "", offsite.sshKey);
    }
    // Every node of `opsbook:engine.nodes` answers, or nothing is registered.
    const nodeConnections = await connectNodes(spec.engine);
    const multiNode = Object.keys(nodeConnections).length > 0;
    const identity = {
        project,
        stack,
        ...(engine.connection ? { engine: engine.connection } : {}),
        ...(multiNode ? { placement: stackPlacement({ project, stack }) } : {}),
    };
    // Every docker resource of the stack, in every component, on the stack's engine.
    const onEngine = { providers: [engine.provider] };
    const swarmNodes = multiNode ? new SwarmNodes("swarm", { identity, engine: spec.engine, manager: engine.connection, nodes: nodeConnections }) : undefined;
    const webhookPlan = telegramWebhookPlan(spec, userSecrets);

    const refs: Record<string, string> = {
        ...imageKeys(spec),
        ...backupImageKeys(spec),
        ...(spec.monitoring.enabled ? { "opsbook:images.monitoring": spec.images.monitoring } : {}),
    };
    const ids = await resolveLocalImages(refs);
    // Images are built on this machine; a server's engine gets them copied over its connection
    // (once per image ID), as does every other node of the swarm (no registry in between: what
    // runs on each node is byte for byte what was built here), and services wait for that
    // through the ID they run, and for the nodes to be joined and labelled.
    // Where an image can run: the gateway is a container on each traffic node; Postgres, Redis and
    // the backup agent keep volumes, so they run on the data node only; anything else anywhere.
    const traffic = trafficNodes(spec.engine);
    const dataOnly = new Set(["opsbook:images.postgres", "opsbook:images.redis", ...Object.keys(backupImageKeys(spec))]);
    const runsOn = (key: string, node: string) =>
        key === "opsbook:images.gateway" ? traffic.some((t) => t.node === node) : !dataOnly.has(key) || spec.engine.dataNode === node;
    const delivered = new Map<string, pulumi.Output<string>>();
    const imageId = (key: string): pulumi.Input<string> => {
        const remoteManager = engine.connection && engine.remote ? engine.connection : undefined;
        if (!remoteManager && !swarmNodes) {
            return ids[key];
        }
        const existing = delivered.get(ids[key]);
        if (existing) {
            return existing;
        }
        const base = `image-${key.replace(/^opsbook:/, "").replace(/[^a-zA-Z0-9-]+/g, "-")}`;
        const deliveries = [
            ...(remoteManager ? [new ImageDelivery(base, { reference: refs[key], imageId: ids[key], engine: remoteManager }).imageId] : []),
            ...Object.entries(nodeConnections)
                .filter(([node]) => runsOn(key, node))
                .map(([node, connection]) => new ImageDelivery(`${base}-${node}`, { reference: refs[key], imageId: ids[key], engine: connection }).imageId),
        ];
        const id = pulumi.all([pulumi.all(deliveries), swarmNodes ? swarmNodes.nodeIds : pulumi.output([] as string[])]).apply(() => ids[key]);
        delivered.set(ids[key], id);
        return id;
    };
    const image = (key: string): LocalImage => ({ reference: refs[key], id: imageId(key) });
    const serviceImage = (name: string) => image(spec.services[name].image ? `opsbook:services.${name}.image` : "opsbook:images.app");

    const generated = generatedSecretSpecs(spec);
    const secrets = new StackSecrets("secrets", { generated }, onEngine);
    const secretValues = { ...secrets.values, ...userSecrets };

    const networks = new StackNetworks("network", { identity, encryptData: spec.engine.encryptDataNetwork }, onEngine);
    const probe = new HealthProbe("health-probe", { identity, binaryPath: probePath }, onEngine);

    // The backup location is made before Postgres when Postgres archives into it (pgBackRest's
    // repository is a directory of it). The volume was once a child of the Backups component;
    // `formerParent` keeps its identity, so stacks deployed before do not replace it.
    const pitrSettings = pointInTimeEnabled(spec)
        ? {
              keepFull: spec.backups.pointInTime.keepFull,
              fullEveryHours: spec.backups.pointInTime.fullEveryHours,
              archiveTimeoutSeconds: spec.backups.pointInTime.archiveTimeoutSeconds,
              keySource: pitrRepositoryKey ? ("PITR_REPOSITORY_KEY" as const) : ("generated" as const),
          }
        : undefined;
    const backupLocation = pitrSettings
        ? new BackupLocation("backups", { identity, location: spec.backups.location, formerParent: pulumi.createUrn("backups", "opsbook:index:Backups") }, onEngine)
        : undefined;

    const postgres = spec.postgres.enabled
        ? new Postgres("postgres", {
              identity,
              network: networks.data,
              image: image("opsbook:images.postgres"),
              memoryMb: spec.postgres.memoryMb,
              database: spec.postgres.database,
              adminPasswordRotation: spec.rotation.POSTGRES_PASSWORD,
              keepDataOnDestroy: spec.postgres.keepDataOnDestroy,
              ...(pitrSettings && backupLocation ? { pointInTime: { ...pitrSettings, backupVolumeName: backupLocation.volumeName, ...(pitrRepositoryKey ? { repositoryKey: pitrRepositoryKey } : {}) } } : {}),
          }, onEngine)
        : undefined;

    const redis = spec.redis.enabled
        ? new Redis("redis", {
              identity,
              network: networks.data,
              image: image("opsbook:images.redis"),
              memoryMb: spec.redis.memoryMb,
              keepDataOnDestroy: spec.redis.keepDataOnDestroy,
              passwordRotation: spec.rotation.REDIS_PASSWORD,
          }, onEngine)
        : undefined;

    const access = postgres
        ? new DatabaseAccess(
              "database-access",
              {
                  identity,
                  network: networks.data,
                  postgresImage: image("opsbook:images.postgres"),
                  adminUser: postgres.adminUser,
                  adminPassword: postgres.adminPassword,
                  database: spec.postgres.database,
                  migratorPasswordRotation: spec.rotation.POSTGRES_MIGRATOR_PASSWORD,
                  appPasswordRotation: spec.rotation.POSTGRES_APP_PASSWORD,
              },
              { ...onEngine, dependsOn: [postgres] },
          )
        : undefined;

    // Services connect as the app role: rows yes, schema no.
    const urls = { databaseUrl: access?.appUrl, redisUrl: redis?.url };

    // Every secret a service or a job reads, once, as a swarm secret: one per key, shared by
    // the services that have it (a name two services must agree on is one secret by construction).
    const serviceSecrets = Object.fromEntries(Object.entries(spec.services).map(([name, svc]) => [name, serviceSecretEnv(svc, urls, secretValues)]));
    const calls = scheduledCalls(spec);
    const callSecrets = [...new Set(calls.flatMap((c) => (c.secretHeader && secretValues[c.secretHeader.secret] ? [c.secretHeader.secret] : [])))];
    const files = new SecretFiles("secret-files", {
        identity,
        values: {
            ...Object.assign({}, ...Object.values(serviceSecrets)),
            ...Object.fromEntries(callSecrets.map((n) => [n, secretValues[n]])),
            ...(access ? { [MIGRATOR_URL_KEY]: access.migratorUrl } : {}),
        },
    }, onEngine);

    const migration =
        spec.migrations && access
            ? (() => {
                  const preflight = preflightInputs(spec, urls, secretValues);
                  return new Migration(
                      "migration",
                      {
                          identity,
                          network: networks.data,
                          image: spec.migrations.image ? image("opsbook:migrations.image") : image("opsbook:images.app"),
                          command: spec.migrations.command,
                          preflight: spec.migrations.preflight,
                          release: spec.release,
                          env: spec.migrations.env,
                          preflightEnv: preflight.preflightEnv,
                          preflightSecrets: files.mount(Object.keys(preflight.preflightSecretEnv)),
                          // Migrations run as the role that owns the schema, never as the superuser.
                          secrets: files.mount({ DATABASE_URL: MIGRATOR_URL_KEY }),
                          redact: [access.migratorUrl, ...Object.values(preflight.preflightSecretEnv)],
                          timeoutSeconds: spec.migrations.timeoutSeconds,
                      },
                      { ...onEngine, dependsOn: [access.applied] },
                  );
              })()
            : undefined;

    const volumes = new Map<string, docker.Volume>();
    for (const svc of Object.values(spec.services)) {
        for (const volumeName of Object.keys(svc.volumes)) {
            if (!volumes.has(volumeName)) {
                volumes.set(
                    volumeName,
                    new docker.Volume(
                        `volume-${volumeName}`,
                        { name: engineName(identity, volumeName), labels: labelList(stackLabels(identity, "volume")) },
                        { retainOnDelete: true, provider: engine.provider },
                    ),
                );
            }
        }
    }

    const published = publishedServices(spec);
    // Services are created in dependency order: a service's `uses` must be healthy before it
    // starts (the spec refuses cycles).
    const services = new Map<string, AppService>();
    const create = (name: string): AppService => {
        const existing = services.get(name);
        if (existing) {
            return existing;
        }
        const svc = spec.services[name];
        const deps: pulumi.Resource[] = [];
        for (const dep of svc.uses) {
            if (dep === "postgres" && access) {
                deps.push(access.applied);
            } else if (dep === "redis" && redis) {
                deps.push(redis);
            } else if (dep in spec.services) {
                deps.push(create(dep));
            }
        }
        if (migration && svc.uses.includes("postgres")) {
            deps.push(migration);
        }
        const service = new AppService(
            name,
            {
                identity,
                // The gateway reaches published services on the edge network; everything else
                // (databases, other services) is on the data network.
                networks: published.includes(name) ? [networks.data, networks.edge] : [networks.data],
                image: serviceImage(name),
                command: svc.command,
                port: svc.port,
                healthPath: svc.healthPath,
                health: svc.healthCheck,
                probe: probe.config,
                role: svc.kind === "worker" ? "worker" : "service",
                env: { APP_RELEASE: spec.release, ...svc.env, ...stackModeEnv(spec) },
                secrets: files.mount(Object.keys(serviceSecrets[name])),
                envContract: serviceEnvContract(svc),
                memoryMb: svc.memoryMb,
                cpus: svc.cpus,
                replicas: svc.replicas,
                exclusive: svc.singleInstance === "always" || Object.keys(svc.volumes).length > 0,
                readOnlyRootFilesystem: svc.readOnlyRootFilesystem,
                mounts: Object.entries(svc.volumes).map(([v, target]) => ({ volume: volumes.get(v)!.name, target })),
            },
            { ...onEngine, dependsOn: deps },
        );
        services.set(name, service);
        return service;
    };
    Object.keys(spec.services).forEach(create);

    const scheduler =
        calls.length > 0
            ? new JobScheduler(
                  "scheduler",
                  {
                      identity,
                      network: networks.data,
                      image: image("opsbook:images.app"),
                      calls,
                      secrets: files.mount(callSecrets),
                      probe: probe.config,
                  },
                  { ...onEngine, dependsOn: [...services.values()] },
              )
            : undefined;

    // Prometheus and Alertmanager are published by the gateway beside the services, on 127.0.0.1.
    const gatewayNames = [...published, ...(spec.monitoring.enabled ? MONITORING_ENDPOINTS : [])];
    // Where the first traffic node's gateway publishes them (a server's name when it publishes on every address).
    const monitoringUrl = (name: string) => `http://${traffic[0].endpointHost}:${derivedHostPort(identity, name)}`;
    const monitoring = spec.monitoring.enabled
        ? (() => {
              const telegram = spec.monitoring.receivers.telegram;
              const webhook = spec.monitoring.receivers.webhook;
              const values = alertReceivers.values;
              return new Monitoring(
                  "monitoring",
                  {
                      identity,
                      plan: monitoringPlan(spec, identity, listenPorts(gatewayNames), engine.dataRoot),
                      image: image("opsbook:images.monitoring"),
                      networks,
                      probe: probe.config,
                      receivers: pulumi.all({
                          telegram:
                              telegram && values[telegram.botTokenSecret] && values[telegram.chatIdSecret]
                                  ? pulumi.all({ apiUrl: spec.telegram.apiBaseUrl, botToken: values[telegram.botTokenSecret], chatId: values[telegram.chatIdSecret] })
                                  : undefined,
                          webhook: webhook && values[webhook.urlSecret] ? pulumi.all({ url: values[webhook.urlSecret] }) : undefined,
                      }),
                      receiverState: alertReceivers.state,
                      redisPassword: redis?.password,
                      telegramBotToken: webhookPlan?.botToken,
                      externalUrls: { prometheus: monitoringUrl("prometheus"), alertmanager: monitoringUrl("alertmanager") },
                  },
                  // Watching starts once what it watches runs, so a deploy raises no alert of its own.
                  { ...onEngine, dependsOn: [...services.values(), ...(redis ? [redis] : []), ...(postgres ? [postgres] : [])] },
              );
          })()
        : undefined;

    // One gateway per traffic node, each on its own node's engine; the manager's keeps the
    // resource name it always had. A node's gateway starts once the node is in the swarm (the edge
    // network reaches it then) and has the gateway image.
    const gatewayBackends = [
        ...published.map((name) => ({
            name,
            serviceName: services.get(name)!.serviceName,
            port: spec.services[name].port,
            hostPort: spec.services[name].hostPort,
        })),
        ...(monitoring
            ? [
                  { name: "alertmanager", serviceName: monitoring.alertmanagerService, port: MONITORING_PORTS.alertmanager },
                  { name: "prometheus", serviceName: monitoring.prometheusService, port: MONITORING_PORTS.prometheus },
              ]
            : []),
    ];
    const gateways =
        gatewayNames.length > 0
            ? traffic.map(
                  (t) =>
                      new Gateway(
                          t.node === "manager" ? "gateway" : `gateway-${t.node}`,
                          {
                              identity,
                              network: networks.edge,
                              image: image("opsbook:images.gateway"),
                              backends: gatewayBackends,
                              bindAddress: t.publishAddress,
                              endpointHost: t.endpointHost,
                              ...(t.node === "manager" ? {} : { node: t.node }),
                          },
                          {
                              providers: [t.node === "manager" ? engine.provider : nodeProvider(t.node, nodeConnections[t.node])],
                              dependsOn: [...published.map((name) => services.get(name)!), ...(monitoring ? [monitoring] : []), ...(swarmNodes && t.node !== "manager" ? [swarmNodes] : [])],
                          },
                      ),
              )
            : [];
    const gateway = gateways[0];

    // Telegram learns a new secret token only once the service (and the gateway before it) runs
    // with it; updates refused in between are retried by Telegram.
    const webhook = webhookPlan
        ? new TelegramWebhookRegistration(
              "telegram-webhook",
              { ...webhookPlan, secretToken: secretValues.TELEGRAM_WEBHOOK_SECRET },
              { ...onEngine, dependsOn: [services.get(webhookPlan.service)!, ...gateways] },
          )
        : undefined;

    // The agent starts once the databases it copies are in use (Postgres migrated, SQLite files
    // created by their services): its first verified backup is part of the deploy.
    const backups = backupsEnabled(spec)
        ? new Backups(
              "backups",
              {
                  identity,
                  network: networks.data,
                  image: image("opsbook:images.backup"),
                  targets: backupTargets(spec),
                  postgresAdminUrl: postgres?.adminUrl,
                  volumes: Object.fromEntries([...volumes.entries()].map(([name, volume]) => [name, volume.name])),
                  schedule: spec.backups.schedule,
                  keep: { days: spec.backups.keepDays, weeks: spec.backups.keepWeeks, months: spec.backups.keepMonths },
                  location: backupLocation ?? spec.backups.location,
                  memoryMb: spec.backups.memoryMb,
                  ...(spec.backups.offsite && offsite
                      ? {
                            offsite: {
                                target: spec.backups.offsite.target,
                                knownHosts: spec.backups.offsite.knownHosts ?? "",
                                sshKey: offsite.sshKey,
                                encryptionKey: offsite.encryptionKey,
                                walEverySeconds: spec.backups.offsite.walEverySeconds ?? defaultWalEverySeconds(spec.backups.pointInTime.archiveTimeoutSeconds),
                            },
                        }
                      : {}),
                  ...(pitrSettings ? { pointInTime: pitrSettings } : {}),
              },
              { ...onEngine, dependsOn: [...(postgres ? [postgres] : []), ...(migration ? [migration] : []), ...services.values()] },
          )
        : undefined;

    const publishedUrlsOf = (g: Gateway | undefined, pick: (url: string, healthPath: string) => string) =>
        g
            ? g.urls.apply((u) =>
                  Object.fromEntries(Object.entries(u).flatMap(([name, url]) => (name in spec.services ? [[name, pick(url, spec.services[name].healthPath)]] : []))),
              )
            : pulumi.output({});
    const publishedUrls = (pick: (url: string, healthPath: string) => string) => publishedUrlsOf(gateway, pick);

    const outputs = {
        /** Base URL of each published service, through the first traffic node's gateway (the manager's on `opsbook:engine.publishAddress`, 127.0.0.1, by default). */
        endpoints: publishedUrls((url) => url),
        /** Health URL of each published service. */
        healthChecks: publishedUrls((url, path) => `${url}${path}`),
        /** The swarm service of each spec service: `docker service ps <name>` shows its tasks. */
        services: pulumi.all(Object.fromEntries([...services.entries()].map(([name, s]) => [name, s.serviceName]))),
        postgresService: postgres?.serviceName,
        postgresVolume: postgres?.volumeName,
        /**
         * The pgBackRest repository key (secret; `pulumi stack output pitrRepositoryKey --show-secrets`):
         * the backups in `<location>/pgbackrest`, and every copy of them, are useless without it. Keep it offline (README).
         */
        pitrRepositoryKey: postgres?.pitrRepositoryKey,
        databaseRoles: access ? { migrator: `${spec.postgres.database}_migrator`, app: `${spec.postgres.database}_app`, appLogin: access.appLogin } : undefined,
        redisService: redis?.serviceName,
        schedulerService: scheduler?.serviceName,
        gatewayContainer: gateway?.containerName,
        /** With several traffic nodes: each one's endpoints, by node. */
        trafficEndpoints:
            gateways.length > 1 ? pulumi.all(Object.fromEntries(gateways.map((g, i) => [traffic[i].node, publishedUrlsOf(g, (url) => url)]))) : undefined,
        /** The Telegram webhook as last registered or refreshed: its URL, backlog and last delivery error. */
        telegramWebhook: webhook ? { url: webhook.url, pendingUpdateCount: webhook.pendingUpdateCount, lastErrorMessage: webhook.lastErrorMessage } : undefined,
        /** Where backups are, the agent service, the schedule and what to run next. */
        backups: backups?.summary,
        /** Prometheus and Alertmanager on 127.0.0.1 (through the gateway), and where the alerts go. */
        monitoring: monitoring
            ? {
                  prometheus: monitoringUrl("prometheus"),
                  alertmanager: monitoringUrl("alertmanager"),
                  receivers: Object.keys(alertReceivers.state),
                  services: { prometheus: monitoring.prometheusService, alertmanager: monitoring.alertmanagerService },
              }
            : undefined,
        migrationsFinishedAt: migration?.finishedAt,
        networks: { data: networks.data.name, edge: networks.edge.name },
        /** How the stack reaches an engine other than this machine's (nothing secret): `npm run backup` goes the same way. */
        engine: engine.connection,
    };
    // Parts a stack does not have (no Redis, no jobs) are left out rather than shown as undefined.
    return Object.fromEntries(Object.entries(outputs).filter(([, value]) => value !== undefined));
};
