// Rules production needs and staging may waive: the runbooks' "in production, set X", a backup
// schedule for the database, and images pinned to content. They are mandatory in code;
// policies/config/staging.json turns them advisory or off, so the code has no stack-name branches.
import { type PolicyConfigSchema, type ResourceValidationPolicy, type StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as docker from "@pulumi/docker";
import { ReceiverSecretState, receiverProblems } from "../components/monitoring/settings";
import { LABEL_ALERT_RECEIVERS, LABEL_MONITORING_PART } from "../components/naming";
import { missingMessage } from "./env";
import {
    BACKUP_SCHEDULE_TYPE_SUFFIX,
    LONG_RUNNING_COMPONENTS,
    type Workload,
    configOf,
    contractOf,
    describe,
    hasComponent,
    imageReferenceOf,
    validateContainer,
    validateJob,
    validateService,
    validateStackView,
} from "./lib";

/** Every name in `envContract.requiredInProduction` is delivered. */
export const envRequiredInProduction: ResourceValidationPolicy = {
    name: "env-required-in-production",
    description:
        "Every env name a service's contract lists as requiredInProduction is delivered (plain and not empty, or as a bound secret file), " +
        "e.g. EOD_CRON_SECRET, without which the end-of-day endpoint answers 403. Disabled in staging by its policy config.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateService((service, _props, _args, reportViolation) => {
        for (const name of contractOf(service).contract.requiredInProduction) {
            const message = missingMessage(service, name, true);
            if (message) {
                reportViolation(message);
            }
        }
    }),
};

/** Config of backups-scheduled. */
export interface BackupsConfig {
    /** Components whose data needs a scheduled backup. */
    readonly dataComponents: string[];
}

const backupsConfigSchema: PolicyConfigSchema = {
    properties: {
        dataComponents: {
            type: "array",
            items: { type: "string", enum: [...LONG_RUNNING_COMPONENTS] },
            uniqueItems: true,
            default: ["database"],
            description: "Values of the `opsbook.component` label whose presence requires at least one scheduled backup.",
        },
    },
};

/** A stack with a database has at least one BackupSchedule resource. */
export const backupsScheduled: StackValidationPolicy = {
    name: "backups-scheduled",
    description:
        "A stack that runs a database service also declares at least one scheduled backup (a resource whose type ends with `:BackupSchedule`, " +
        "which components/backup.ts registers beside the backup agent). Every runbook restores from a backup; one that was never scheduled cannot be restored.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: backupsConfigSchema,
    validateStack: validateStackView((view, args, reportViolation) => {
        const config = configOf<BackupsConfig>(args, backupsConfigSchema);
        if (args.resources.some((r) => r.type.endsWith(BACKUP_SCHEDULE_TYPE_SUFFIX))) {
            return;
        }
        for (const workload of view.workloads) {
            if (hasComponent(workload, config.dataComponents)) {
                reportViolation(
                    `The stack runs ${describe(workload)} but schedules no backup; ` +
                        "keep `opsbook:backups.enabled` on (the Backups component registers a `...:BackupSchedule` with its agent) before deploying.",
                    workload.urn,
                );
            }
        }
    }),
};

/** Config of images-pinned. */
export interface ImagesConfig {
    /** Accept only digests (`name@sha256:...`), not even content-addressed tags. */
    readonly requireDigest: boolean;
    /** More tag patterns that are immutable where the team's registry guarantees it. */
    readonly immutableTagPatterns: string[];
}

const imagesConfigSchema: PolicyConfigSchema = {
    properties: {
        requireDigest: {
            type: "boolean",
            default: false,
            description: "When true, only a digest (name@sha256:<64 hex>) pins an image; a content-addressed tag is not enough.",
        },
        immutableTagPatterns: {
            type: "array",
            items: { type: "string", minLength: 1 },
            default: [],
            description:
                "More regular expressions (JavaScript syntax, anchored to the whole tag) for tags the team's registry makes immutable, e.g. `v[0-9]+[.][0-9]+[.][0-9]+` on a registry with tag immutability turned on.",
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

/** A sha256 digest, as in `name@sha256:<64 hex>`, or an image ID. */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * A content-addressed tag: 12 to 64 lowercase hex digits (a content hash or a git commit), after
 * an optional version prefix ending in `-`. The toolchain's tags are of this form
 * (scripts/lib/images.sh: `opsbook/app:<12 hex>`, `opsbook/postgres:15-<12 hex>`), and a new
 * content is a new tag, so the tag cannot silently move to other content.
 */
export const CONTENT_ADDRESSED_TAG = /^(?:[A-Za-z0-9][A-Za-z0-9_.-]*-)?[0-9a-f]{12,64}$/;

/** A configured tag pattern, anchored to the whole tag; a bad one is a config error, named by its index. */
function immutableTag(pattern: string, index: number): RegExp {
    try {
        return new RegExp(`^(?:${pattern})$`);
    } catch {
        throw new Error(`policy config \`images-pinned.immutableTagPatterns[${index}]\` is not a valid regular expression; fix it in the policy config file.`);
    }
}

/** Why a reference is not pinned, or undefined when it is. */
export function unpinnedReason(reference: string, config: ImagesConfig = { requireDigest: false, immutableTagPatterns: [] }): string | undefined {
    if (SHA256_DIGEST.test(reference)) {
        return undefined; // an image ID: content itself
    }
    const { tag, digest } = parseImageReference(reference);
    if (digest !== undefined) {
        return SHA256_DIGEST.test(digest) ? undefined : "has a digest that is not a sha256 digest";
    }
    if (config.requireDigest) {
        return "is not pinned by digest (required by this policy's config)";
    }
    if (tag === undefined) {
        return "has no tag, which means `latest`, a tag that moves with every push";
    }
    if (CONTENT_ADDRESSED_TAG.test(tag) || config.immutableTagPatterns.some((p, i) => immutableTag(p, i).test(tag))) {
        return undefined;
    }
    return `has the tag \`${tag}\`, which is not content-addressed and can be moved to another image (as the toolchain moves \`:reference\`, \`:15\` and \`:7\` on every build)`;
}

/** The config key a workload's image comes from. */
function imageKey(workload: Workload): string {
    if (workload.specService) {
        return `\`opsbook:services.${workload.specService}.image\` (or \`opsbook:images.app\`)`;
    }
    switch (workload.component) {
        case "database":
            return "`opsbook:images.postgres`";
        case "cache":
            return "`opsbook:images.redis`";
        case "gateway":
            return "`opsbook:images.gateway`";
        case "backup":
            return "`opsbook:images.backup`";
        case "monitoring":
            return "`opsbook:images.monitoring`";
        case "scheduler":
            return "`opsbook:images.app`";
        case "grants":
            return "`opsbook:images.postgres`";
        case "migration":
        case "preflight":
            return "`opsbook:migrations.image` (or `opsbook:images.app`)";
        default:
            return "the stack config's `opsbook:images`";
    }
}

function checkPinned(workload: Workload, reference: string | undefined, config: ImagesConfig, reportViolation: (message: string) => void): void {
    if (reference === undefined) {
        return; // unknown during preview
    }
    const reason = unpinnedReason(reference, config);
    if (reason) {
        reportViolation(
            `${describe(workload)} runs image \`${reference}\`, which ${reason}; set ${imageKey(workload)} to name@sha256:<digest> ` +
                "or to a content-addressed tag such as the ones 'eval \"$(npm run -s toolchain)\"' exports (OPSBOOK_IMAGE_APP=opsbook/app:<12 hex>).",
        );
    }
}

/** Every image a workload runs is named by digest or by a content-addressed tag. */
export const imagesPinned: ResourceValidationPolicy = {
    name: "images-pinned",
    description:
        "The image reference every service, the gateway and every one-shot job was given (the `opsbook.image-ref` label; the job's imageName) is pinned to content: " +
        "a sha256 digest (`name@sha256:<64 hex>`) or a content-addressed tag (12 to 64 hex digits after an optional `<version>-`, as the toolchain writes). " +
        "`:reference`, `:latest`, `:15`, `:1.4.2` and no tag at all are not: they can move, so a redeploy or a rollback from the same config can run other code.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: imagesConfigSchema,
    validateResource: [
        validateService((workload, props, args, reportViolation) =>
            checkPinned(workload, imageReferenceOf(workload, props.taskSpec?.containerSpec?.image), configOf<ImagesConfig>(args, imagesConfigSchema), reportViolation),
        ),
        validateContainer((workload, props, args, reportViolation) =>
            checkPinned(workload, imageReferenceOf(workload, props.image), configOf<ImagesConfig>(args, imagesConfigSchema), reportViolation),
        ),
        validateJob((workload, props, args, reportViolation) =>
            checkPinned(workload, imageReferenceOf(workload, props.imageName), configOf<ImagesConfig>(args, imagesConfigSchema), reportViolation),
        ),
    ],
};

/** Alerts reach someone: the stack runs Alertmanager with a receiver whose secrets are all set. */
export const monitoringWithReceiver: StackValidationPolicy = {
    name: "monitoring-with-receiver",
    description:
        "The stack runs its monitoring (a swarm service labelled `opsbook.monitoring=alertmanager`) with at least one alert receiver, and every secret " +
        "each receiver needs is set (the `opsbook.alert-receivers` label records receivers and secret names, never values). The rule is the one " +
        "config.ts applies before anything is registered (components/monitoring/settings.ts `receiverProblems`). A production stack that stops serving must tell someone.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateStack: validateStackView((view, _args, reportViolation) => {
        const alertmanagers = view.services.filter((w) => w.labels[LABEL_MONITORING_PART] === "alertmanager");
        if (alertmanagers.length === 0) {
            reportViolation(
                "The stack runs no Alertmanager, so nobody hears of an outage; keep `opsbook:monitoring.enabled` on (the default) and set " +
                    "`opsbook:monitoring.receivers.telegram` (with `pulumi config set --secret ALERT_TELEGRAM_BOT_TOKEN` and `ALERT_TELEGRAM_CHAT_ID`) or `.webhook`.",
            );
            return;
        }
        for (const am of alertmanagers) {
            let state: ReceiverSecretState = {};
            try {
                state = JSON.parse(am.labels[LABEL_ALERT_RECEIVERS] ?? "{}") as ReceiverSecretState;
            } catch {
                // An unreadable label reads as no receiver, which is reported below.
            }
            for (const problem of receiverProblems(state, true)) {
                reportViolation(`${describe(am)}: ${problem}.`, am.urn);
            }
        }
    }),
};

/**
 * The stack's data network (the overlay that is not attachable: Postgres, Redis and the services)
 * is encrypted between nodes. On one node no packet leaves the host, but a production stack may
 * gain nodes at any deploy, and the option is set only when the network is made.
 */
export const dataNetworkEncrypted: ResourceValidationPolicy = {
    name: "data-network-encrypted",
    description:
        "The stack's data network (an overlay that is not attachable) has Docker's `encrypted` option (IPsec between nodes): database and cache " +
        "traffic never crosses the servers' network in clear. Turned off only by `opsbook:engine.encryptDataNetwork: false`, for kernels without IPsec ESP.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateResourceOfType(docker.Network, (network, args, reportViolation) => {
        if (network.driver !== "overlay" || network.attachable === true) {
            return;
        }
        const options = (network.options ?? {}) as Record<string, unknown>;
        if (options.encrypted !== "true") {
            reportViolation(
                `network \`${String(network.name ?? args.name)}\` carries the stack's database and cache traffic between nodes unencrypted; ` +
                    "set `opsbook:engine.encryptDataNetwork` to true (the default) before the network is made, on servers whose kernel has IPsec ESP " +
                    "(README, \"Several servers\"), or set this policy's `enforcementLevel` to advisory in the stack's policy config to accept it.",
            );
        }
    }),
};

export const productionPolicies = [envRequiredInProduction, backupsScheduled, imagesPinned, monitoringWithReceiver, dataNetworkEncrypted];
