import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../providers/serviceSettled";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { httpHealthcheck } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName } from "./naming";
import { SecretMount } from "./secretFiles";
import { ProbeConfigRef, swarmServiceArgs } from "./swarmService";

/** One scheduled HTTP call, as the scheduler receives it (no secret values here). */
export interface ScheduledCall {
    readonly name: string;
    /** 5-field cron expression, UTC. */
    readonly schedule: string;
    readonly method: "GET" | "POST";
    /** Full URL on the stack network, e.g. http://app:8080/jobs/eod. */
    readonly url: string;
    /** Header to send and the env name of the secret that fills it, e.g. X-Cron-Secret / EOD_CRON_SECRET. */
    readonly secretHeader?: { header: string; secret: string };
}

export interface JobSchedulerArgs {
    readonly identity: StackIdentity;
    /** The stack's data network, where the services answer by name. */
    readonly network: StackNetwork;
    /** The reference app image; its `scheduler` role runs the calls. */
    readonly image: LocalImage;
    readonly calls: ScheduledCall[];
    /** The secrets the calls send, as files. */
    readonly secrets: SecretMount;
    /** The stack's probe config, for the health check. */
    readonly probe: ProbeConfigRef;
}

/**
 * The stack's cron: a small swarm service that makes each scheduled HTTP call on time (the
 * runbooks' end-of-day job with its X-Cron-Secret), logs each run, and exposes the last result on
 * /health. One task, stop-first: two schedulers would run every job twice.
 */
export class JobScheduler extends pulumi.ComponentResource {
    public readonly serviceName: pulumi.Output<string>;

    constructor(name: string, args: JobSchedulerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:JobScheduler", name, {}, opts);
        const port = 8080;
        const serviceArgs = swarmServiceArgs({
            identity: args.identity,
            engineName: engineName(args.identity, "scheduler"),
            component: "scheduler",
            image: args.image,
            env: { APP_ROLE: "scheduler", PORT: String(port), SERVICE_NAME: "scheduler", JOBS: JSON.stringify(args.calls) },
            secrets: args.secrets,
            networks: [{ id: args.network.id, aliases: ["scheduler"] }],
            healthcheck: httpHealthcheck(port, "/health"),
            probe: args.probe,
            replicas: 1,
            updateOrder: "stop-first",
            memoryMb: 96,
            envContract: { ...EMPTY_ENV_CONTRACT, required: Object.keys(args.secrets.bindings).sort() },
        });
        const service = new docker.Service(`${name}-service`, serviceArgs, { parent: this, deleteBeforeReplace: true });
        // Dependents wait until Swarm has finished rolling the service out, not only until it runs.
        settledAfter(`${name}-settled`, service.name, serviceArgs, 120, args.identity.engine, { parent: this });
        this.serviceName = service.name;
        this.registerOutputs({ serviceName: this.serviceName });
    }
}
