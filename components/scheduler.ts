import * as pulumi from "@pulumi/pulumi";
import { Container } from "../providers/docker";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { HARDENED_DEFAULTS, httpHealthCheck } from "./hardening";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

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
    readonly networkName: pulumi.Input<string>;
    /** The reference app image; its `scheduler` role runs the calls. */
    readonly image: LocalImage;
    readonly calls: ScheduledCall[];
    /** The secrets the calls send, by env name. */
    readonly secretEnv: Record<string, pulumi.Input<string>>;
}

/**
 * The stack's cron: a small container that makes each scheduled HTTP call on time (the runbooks'
 * end-of-day job with its X-Cron-Secret), logs each run, and exposes the last result on /health.
 */
export class JobScheduler extends pulumi.ComponentResource {
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: JobSchedulerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:JobScheduler", name, {}, opts);
        const port = 8080;
        const container = new Container(
            `${name}-container`,
            {
                ...HARDENED_DEFAULTS,
                name: engineName(args.identity, "scheduler"),
                image: args.image.id,
                imageName: args.image.reference,
                env: { APP_ROLE: "scheduler", PORT: String(port), SERVICE_NAME: "scheduler", JOBS: JSON.stringify(args.calls) },
                secretEnv: args.secretEnv,
                labels: stackLabels(args.identity, "scheduler"),
                networks: [{ name: args.networkName, aliases: ["scheduler"] }],
                publish: [],
                mounts: [],
                healthCheck: httpHealthCheck(port, "/health"),
                memoryMb: 96,
                waitHealthySeconds: 60,
                role: "worker",
                envContract: { ...EMPTY_ENV_CONTRACT, required: Object.keys(args.secretEnv).sort() },
            },
            { parent: this },
        );
        this.containerName = container.containerName;
        this.registerOutputs({ containerName: this.containerName });
    }
}
