import * as crypto from "crypto";
import * as fs from "fs";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { BACKUP_UID, locationProblem, parseLocation } from "./backupPlan";
import { StackIdentity, engineName, labelList, stackLabels } from "./naming";

export interface BackupLocationArgs {
    /** Which stack the backups belong to. */
    readonly identity: StackIdentity;
    /** A stack volume name or an absolute host directory. Default `backups`. */
    readonly location?: string;
    /**
     * The URN of the component that held the volume before this one existed (the Backups
     * component): the volume keeps its identity, so a stack deployed before is not replaced.
     */
    readonly formerParent?: pulumi.Input<string>;
}

/**
 * Where a stack's backups live, as an engine volume: a named volume kept on destroy, or a bind
 * volume on a host directory. Its own component (not part of Backups) because two services
 * mount it: the backup agent, and Postgres, whose pgBackRest repository is a directory in it
 * (`<location>/pgbackrest`), and Postgres starts before the agent exists.
 */
export class BackupLocation extends pulumi.ComponentResource {
    /** The engine's name of the volume. */
    public readonly volumeName: pulumi.Output<string>;
    /** Where backups are, for people: `volume <engine name>` or the host directory. */
    public readonly where: pulumi.Output<string>;
    /** The `backups.location` it was made from. */
    public readonly spec: string;

    constructor(name: string, args: BackupLocationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:BackupLocation", name, {}, opts);
        const locationSpec = args.location ?? "backups";
        const problem = locationProblem(locationSpec);
        if (problem) {
            throw new pulumi.ResourceError(`\`backups.location\` ${problem}.`, this);
        }
        const volume = backupLocationVolume(`${name}-location`, args.identity, locationSpec, this, args.formerParent);
        this.volumeName = volume.name;
        const location = parseLocation(locationSpec);
        this.spec = locationSpec;
        this.where = location.kind === "volume" ? pulumi.interpolate`volume ${volume.name}` : pulumi.output(location.path);
        this.registerOutputs({ volumeName: this.volumeName, where: this.where });
    }
}

/**
 * The location's volume, checked. Backups outlive the stack: a named volume is kept on destroy; a
 * host directory is the user's, and only the engine's handle on it (a bind volume) is removed.
 */
export function backupLocationVolume(resourceName: string, identity: StackIdentity, locationSpec: string, parent: pulumi.Resource, formerParent?: pulumi.Input<string>): docker.Volume {
    const location = parseLocation(locationSpec);
    const labels = stackLabels(identity, "backups");
    const aliases = formerParent ? [{ name: resourceName, parent: formerParent }] : undefined;
    if (location.kind === "host") {
        const fix = `create it for the backup agent (uid ${BACKUP_UID}): sudo install -d -o ${BACKUP_UID} -g ${BACKUP_UID} -m 0750 ${location.path}`;
        let isDir = false;
        try {
            isDir = fs.statSync(location.path).isDirectory();
        } catch {
            isDir = false;
        }
        if (!isDir) {
            throw new pulumi.ResourceError(`\`backups.location\` ${location.path} is not a directory on this host; ${fix}`, parent);
        }
        return new docker.Volume(
            resourceName,
            {
                // The path is part of the name: a new directory is a new volume.
                name: engineName(identity, "backups-host", crypto.createHash("sha256").update(location.path).digest("hex").slice(0, 8)),
                driver: "local",
                driverOpts: { type: "none", o: "bind", device: location.path },
                labels: labelList(labels),
            },
            { parent, aliases },
        );
    }
    return new docker.Volume(resourceName, { name: engineName(identity, location.name), labels: labelList(labels) }, { parent, retainOnDelete: true, aliases });
}
