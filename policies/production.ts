// Rules production needs and staging may waive: the runbooks' "in production, set X", a backup
// schedule for the database, and images pinned to a tag or digest. They are mandatory in code;
// policies/config/staging.json turns them advisory or off, so the code has no stack-name branches.
import type { PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    BACKUP_SCHEDULE_TYPE_SUFFIX,
    CONTAINER_TYPE,
    configOf,
    contractList,
    describeContainer,
    envValue,
    forStacksWith,
    howToSet,
    isFilled,
    isUnknown,
    listNames,
    resourcesOfDynamicType,
    validateResourceOfDynamicType,
} from "./lib";

/** Every name in `envContract.requiredInProduction` is set to a non-empty value. */
export const envRequiredInProduction: ResourceValidationPolicy = {
    name: "env-required-in-production",
    description:
        "Every env name a container's contract lists as requiredInProduction is set to a value that is not empty, " +
        "e.g. EOD_CRON_SECRET, without which the end-of-day endpoint answers 403. Disabled in staging by its policy config.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        for (const name of contractList(container, "requiredInProduction")) {
            const reading = envValue(container, name);
            if (!isFilled(reading)) {
                const state = reading.state === "absent" ? "is not set" : "is empty";
                reportViolation(
                    `${describeContainer(args.name, container)} needs \`${name}\` in production, and it ${state}; ${howToSet(container, name)}.`,
                );
            }
        }
    }),
};

/** Config of backups-scheduled. */
export interface BackupsConfig {
    /** Container roles whose data needs a scheduled backup. */
    readonly dataRoles: string[];
}

const backupsConfigSchema: PolicyConfigSchema = {
    properties: {
        dataRoles: {
            type: "array",
            items: { type: "string", enum: ["database", "cache", "service", "worker", "job"] },
            default: ["database"],
            description: "Container roles whose presence requires at least one scheduled backup.",
        },
    },
};

/** A stack with a database has at least one BackupSchedule resource. */
export const backupsScheduled: StackValidationPolicy = {
    name: "backups-scheduled",
    description:
        "A stack that runs a database container also declares at least one scheduled backup (a resource whose type ends with `:BackupSchedule`). " +
        "Every runbook restores from a backup; one that was never scheduled cannot be restored.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: backupsConfigSchema,
    validateStack: forStacksWith(CONTAINER_TYPE, (args, reportViolation) => {
        const config = configOf<BackupsConfig>(args, backupsConfigSchema);
        if (args.resources.some((r) => r.type.endsWith(BACKUP_SCHEDULE_TYPE_SUFFIX))) {
            return;
        }
        for (const { resource, props } of resourcesOfDynamicType(args.resources, "Container")) {
            if (typeof props.role === "string" && config.dataRoles.includes(props.role)) {
                reportViolation(
                    `The stack runs ${describeContainer(resource.name, props)} with role \`${props.role}\` but schedules no backup; ` +
                        `declare a backup schedule for it (a resource of type \`...${BACKUP_SCHEDULE_TYPE_SUFFIX}\`) before deploying.`,
                    resource.urn,
                );
            }
        }
    }),
};

/** Config of images-pinned. */
export interface ImagesConfig {
    /** Tags that float, and so do not pin an image. */
    readonly forbiddenTags: string[];
    /** Accept only digests (`name@sha256:...`), not tags. */
    readonly requireDigest: boolean;
}

const imagesConfigSchema: PolicyConfigSchema = {
    properties: {
        forbiddenTags: {
            type: "array",
            items: { type: "string", minLength: 1 },
            default: ["latest"],
            description: "Tags that move, and so do not pin an image (compared case-insensitively).",
        },
        requireDigest: {
            type: "boolean",
            default: false,
            description: "When true, only a digest (name@sha256:...) pins an image; a tag is not enough.",
        },
    },
};

/** The parts of an image reference. */
export interface ImageReference {
    readonly tag?: string;
    readonly digest?: string;
}

/** Splits `registry:5000/name:tag@sha256:...`; a colon before the last slash is a registry port. */
export function parseImageReference(reference: string): ImageReference {
    const at = reference.indexOf("@");
    const digest = at >= 0 ? reference.slice(at + 1) : undefined;
    const rest = at >= 0 ? reference.slice(0, at) : reference;
    const colon = rest.lastIndexOf(":");
    const tag = colon > rest.lastIndexOf("/") ? rest.slice(colon + 1) : undefined;
    return { tag: tag || undefined, digest: digest || undefined };
}

/** Every container's image reference names an explicit tag that does not float, or a digest. */
export const imagesPinned: ResourceValidationPolicy = {
    name: "images-pinned",
    description:
        "Every container's image reference (imageName) is pinned: it has an explicit tag that is not `latest` (or another configured floating tag), " +
        "or a sha256 digest. A rollback to `:previous` or a pinned SHA only works when the running image was pinned.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: imagesConfigSchema,
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const config = configOf<ImagesConfig>(args, imagesConfigSchema);
        const reference = container.imageName;
        if (typeof reference !== "string" || isUnknown(reference)) {
            return;
        }
        const { tag, digest } = parseImageReference(reference);
        const who = describeContainer(args.name, container);
        const fix = "set the image in `opsbook:images` or `opsbook:services.<name>.image` to name:<version> or name@sha256:<digest>";
        if (digest && /^sha256:[a-f0-9]{64}$/.test(digest)) {
            return;
        }
        if (digest) {
            reportViolation(`${who} has an image reference whose digest is not a sha256 digest; ${fix}.`);
        } else if (config.requireDigest) {
            reportViolation(`${who} has image \`${reference}\`, which is not pinned by digest (required by this policy's config); ${fix}.`);
        } else if (!tag) {
            reportViolation(`${who} has image \`${reference}\` without a tag, which means \`latest\`; ${fix}.`);
        } else if (config.forbiddenTags.some((t) => t.toLowerCase() === tag.toLowerCase())) {
            reportViolation(
                `${who} has image \`${reference}\`, whose tag is one of the floating tags ${listNames(config.forbiddenTags, "or")}; ${fix}.`,
            );
        }
    }),
};

export const productionPolicies = [envRequiredInProduction, backupsScheduled, imagesPinned];
