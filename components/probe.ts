import * as fs from "fs";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { StackIdentity, engineName, labelList, stackLabels } from "./naming";
import { ProbeConfigRef } from "./swarmService";

export interface HealthProbeArgs {
    /** Which stack the probe belongs to. */
    readonly identity: StackIdentity;
    /** The static probe binary built by the toolchain (`OPSBOOK_PROBE`). */
    readonly binaryPath: string;
}

/** Swarm keeps configs in its Raft log; it refuses anything larger. */
const SWARM_CONFIG_LIMIT_BYTES = 500 * 1024;

/**
 * The stack's HTTP probe as a swarm config, mounted into every task that has an HTTP health
 * check (mode 0555). It is a static binary of a few kilobytes, so a health check needs nothing
 * inside a team's image: no shell, no curl, no Node.js, and it works in a `FROM scratch` image.
 */
export class HealthProbe extends pulumi.ComponentResource {
    public readonly config: ProbeConfigRef;

    constructor(name: string, args: HealthProbeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:HealthProbe", name, {}, opts);
        let binary: Buffer;
        try {
            binary = fs.readFileSync(args.binaryPath);
        } catch (err) {
            throw new pulumi.ResourceError(
                `the health probe ${args.binaryPath} cannot be read (${(err as Error).message}); run 'eval "$(npm run -s toolchain)"', which builds it and sets OPSBOOK_PROBE`,
                this,
            );
        }
        if (binary.length > SWARM_CONFIG_LIMIT_BYTES) {
            throw new pulumi.ResourceError(`the health probe ${args.binaryPath} is ${binary.length} bytes; a swarm config holds at most ${SWARM_CONFIG_LIMIT_BYTES}`, this);
        }
        // Auto-named: a new probe build is a new config, created before the services move to it.
        const config = new docker.ServiceConfig(
            engineName(args.identity, "probe"),
            { data: binary.toString("base64"), labels: labelList(stackLabels(args.identity, "probe")) },
            { parent: this },
        );
        this.config = { configId: config.id, configName: config.name };
        this.registerOutputs({});
    }
}
