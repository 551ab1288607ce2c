// Rules on how workloads run: data stores stay off the host's ports, nothing listens on every
// address, everything long-running is supervised and hardened (health check, restart policy,
// memory limit, read-only root, no capabilities) as the runbooks' uptime checks and "restart the
// worker" steps assume, and nothing that writes to a volume ever runs twice at once.
//
// Long-running means a docker.Service whose `opsbook.component` is service, worker, database,
// cache, scheduler or backup, and the gateway's docker.Container. One-shot jobs are not.
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import {
    type ComponentsConfig,
    HEALTHCHECK_FROM_IMAGE,
    LABEL_HEALTHCHECK,
    LONG_RUNNING_COMPONENTS,
    type Workload,
    componentsSchema,
    configOf,
    describe,
    hasComponent,
    isRecord,
    isUnknown,
    knownString,
    knownStrings,
    listNames,
    validateContainer,
    validateService,
} from "./lib";

const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Ports

const dataPortsSchema = componentsSchema(["database", "cache"], "that must not publish a port");

/** Ports a service publishes, as `published->target`. */
function publishedPorts(ports: unknown): string[] | undefined {
    if (isUnknown(ports)) {
        return undefined;
    }
    return (Array.isArray(ports) ? ports : []).map((p) =>
        isRecord(p) ? `${String(p.publishedPort ?? "?")}->${String(p.targetPort ?? "?")}` : String(p),
    );
}

/** Databases and caches publish no port. */
export const noPublishedDataPorts: ResourceValidationPolicy = {
    name: "no-published-data-ports",
    description:
        "A database or cache service publishes no port (`endpointSpec.ports` is empty): services reach it on the stack's overlay network, " +
        "and an operator uses 'docker exec'. A published database port is one firewall rule away from the internet.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: dataPortsSchema,
    validateResource: validateService((service, props, args, reportViolation) => {
        const { components } = configOf<ComponentsConfig>(args, dataPortsSchema);
        const ports = publishedPorts(props.endpointSpec?.ports);
        if (!hasComponent(service, components) || ports === undefined || ports.length === 0) {
            return;
        }
        reportViolation(
            `${describe(service)} publishes port${ports.length > 1 ? "s" : ""} ${listNames(ports)}; ` +
                "remove `endpointSpec.ports` and reach it on the stack network (or with 'docker exec') instead.",
        );
    }),
};

/** Config of no-public-bind. */
export interface BindConfig {
    readonly allowedBindAddresses: string[];
}

const bindSchema: PolicyConfigSchema = {
    properties: {
        allowedBindAddresses: {
            type: "array",
            items: { type: "string", minLength: 1 },
            uniqueItems: true,
            default: ["127.0.0.1"],
            description: "Host addresses a container may publish a port on (the gateway's `bindAddress`).",
        },
    },
};

/** Nothing is published on every address. */
export const noPublicBind: ResourceValidationPolicy = {
    name: "no-public-bind",
    description:
        "Nothing is published on 0.0.0.0: no swarm service publishes a port (Swarm publishes on every address of every node, whatever the mode), " +
        "and every port of a container (the gateway) is bound to an allowed address, 127.0.0.1 unless the config allows another. " +
        "Traffic enters through the gateway.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: bindSchema,
    validateResource: [
        validateService((service, props, _args, reportViolation) => {
            const ports = publishedPorts(props.endpointSpec?.ports);
            if (ports && ports.length > 0) {
                reportViolation(
                    `${describe(service)} publishes port${ports.length > 1 ? "s" : ""} ${listNames(ports)} on every address of every node; ` +
                        "remove `endpointSpec.ports` and publish it through the gateway (`opsbook:services.<name>.publish`), which binds 127.0.0.1.",
                );
            }
        }),
        validateContainer((container, props, args, reportViolation) => {
            const { allowedBindAddresses } = configOf<BindConfig>(args, bindSchema);
            if (isUnknown(props.ports) || !Array.isArray(props.ports)) {
                return;
            }
            for (const port of props.ports) {
                if (!isRecord(port) || isUnknown(port.ip)) {
                    continue;
                }
                // The provider's default for a port without `ip` is 0.0.0.0.
                const ip = knownString(port.ip) ?? "0.0.0.0";
                if (!allowedBindAddresses.includes(ip)) {
                    reportViolation(
                        `${describe(container)} publishes port ${String(port.external ?? "?")}->${String(port.internal ?? "?")} on \`${ip}\`; ` +
                            `bind it to ${listNames(allowedBindAddresses, "or")} (the gateway's \`bindAddress\`), or allow the address in this policy's \`allowedBindAddresses\`.`,
                    );
                }
            }
        }),
    ],
};

// ---------------------------------------------------------------------------------------------
// Supervision

/** True for a health check test that does something: not empty, not `NONE`, not a bare `CMD`. */
function isRealTest(tests: unknown): boolean {
    if (!Array.isArray(tests) || tests.length === 0) {
        return false;
    }
    const first = String(tests[0]);
    return first !== "NONE" && (tests.length > 1 || (first !== "CMD" && first !== "CMD-SHELL"));
}

const healthSchema = componentsSchema(LONG_RUNNING_COMPONENTS, "that must have a health check");

/** Long-running workloads have a health check. */
export const longRunningHealthCheck: ResourceValidationPolicy = {
    name: "long-running-health-check",
    description:
        "Every long-running service and the gateway container has a health check whose test does something (not empty, `NONE` or a bare `CMD`), " +
        "so a release waits for it to be healthy and a hung process shows as unhealthy instead of running. A service or worker may keep its image's own " +
        `HEALTHCHECK instead only when it says so with the label \`${LABEL_HEALTHCHECK}=${HEALTHCHECK_FROM_IMAGE}\`.`,
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: healthSchema,
    validateResource: [
        validateService((service, props, args, reportViolation) => {
            const { components } = configOf<ComponentsConfig>(args, healthSchema);
            const healthcheck = props.taskSpec?.containerSpec?.healthcheck;
            if (!hasComponent(service, components) || isUnknown(healthcheck) || isUnknown(healthcheck?.tests)) {
                return;
            }
            if (isRealTest(healthcheck?.tests)) {
                return;
            }
            const fromImage = service.labels[LABEL_HEALTHCHECK] === HEALTHCHECK_FROM_IMAGE;
            if (fromImage && (service.component === "service" || service.component === "worker") && healthcheck?.tests === undefined) {
                return;
            }
            reportViolation(
                `${describe(service)} has no health check; give it \`taskSpec.containerSpec.healthcheck\` (its component's health path through the stack's probe, ` +
                    `or a CMD that exits 0 when it is ready)` +
                    (service.component === "service" || service.component === "worker"
                        ? `, or, if its image brings a HEALTHCHECK, label it \`${LABEL_HEALTHCHECK}=${HEALTHCHECK_FROM_IMAGE}\` and set none.`
                        : "."),
            );
        }),
        validateContainer((container, props, args, reportViolation) => {
            const { components } = configOf<ComponentsConfig>(args, healthSchema);
            if (!hasComponent(container, components) || isUnknown(props.healthcheck) || isUnknown(props.healthcheck?.tests)) {
                return;
            }
            if (!isRealTest(props.healthcheck?.tests)) {
                reportViolation(`${describe(container)} has no health check; give it \`healthcheck.tests\` (a CMD that exits 0 when it is ready).`);
            }
        }),
    ],
};

const restartSchema = componentsSchema(LONG_RUNNING_COMPONENTS, "that must restart on their own");

/** Restart policies of a container that bring it back after a crash and a reboot. */
const CONTAINER_RESTARTS = ["unless-stopped", "always"];

/** Long-running workloads restart on their own. */
export const longRunningRestartPolicy: ResourceValidationPolicy = {
    name: "long-running-restart-policy",
    description:
        "Every long-running service restarts its tasks whatever their exit (`taskSpec.restartPolicy.condition` `any`, Swarm's default when unset), " +
        "and the gateway container has restart `unless-stopped` or `always`, so a crash or a host reboot does not leave it down until someone notices.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: restartSchema,
    validateResource: [
        validateService((service, props, args, reportViolation) => {
            const { components } = configOf<ComponentsConfig>(args, restartSchema);
            const condition = props.taskSpec?.restartPolicy?.condition;
            if (!hasComponent(service, components) || isUnknown(condition) || condition === undefined || condition === "any") {
                return;
            }
            reportViolation(
                `${describe(service)} has restart condition \`${String(condition)}\`; set \`taskSpec.restartPolicy.condition\` to \`any\` (components/hardening.ts RESTART_POLICY), ` +
                    "so a task that exits for any reason is replaced.",
            );
        }),
        validateContainer((container, props, args, reportViolation) => {
            const { components } = configOf<ComponentsConfig>(args, restartSchema);
            if (!hasComponent(container, components) || isUnknown(props.restart)) {
                return;
            }
            if (!CONTAINER_RESTARTS.includes(String(props.restart))) {
                reportViolation(`${describe(container)} has restart policy \`${String(props.restart ?? "no")}\`; set \`restart\` to \`unless-stopped\`.`);
            }
        }),
    ],
};

/** Config of long-running-memory-limit. */
interface MemoryConfig extends ComponentsConfig {
    readonly minimumMb: number;
}

const memorySchema = componentsSchema(LONG_RUNNING_COMPONENTS, "that must have a memory limit", {
    minimumMb: {
        type: "integer",
        minimum: 1,
        default: 1,
        description: "The smallest memory limit accepted, in MiB.",
    },
});

function memoryMessage(workload: Workload, mb: number | undefined, minimumMb: number, key: string): string | undefined {
    if (mb !== undefined && Number.isFinite(mb) && mb >= minimumMb && mb > 0) {
        return undefined;
    }
    const now = mb !== undefined && Number.isFinite(mb) && mb > 0 ? `a memory limit of ${Math.round(mb * 100) / 100} MiB` : "no memory limit";
    return `${describe(workload)} has ${now}; set \`${key}\` to at least ${minimumMb} MiB (the component's \`memoryMb\` option in the stack config).`;
}

/** Long-running workloads have a memory limit. */
export const longRunningMemoryLimit: ResourceValidationPolicy = {
    name: "long-running-memory-limit",
    description:
        "Every long-running service (`taskSpec.resources.limits.memoryBytes`) and the gateway container (`memory`, MiB) has a memory limit, at least the configured minimum, " +
        "so a leak ends in the task being killed and restarted rather than in the host swapping.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: memorySchema,
    validateResource: [
        validateService((service, props, args, reportViolation) => {
            const { components, minimumMb } = configOf<MemoryConfig>(args, memorySchema);
            const bytes = props.taskSpec?.resources?.limits?.memoryBytes;
            if (!hasComponent(service, components) || isUnknown(bytes)) {
                return;
            }
            const message = memoryMessage(service, typeof bytes === "number" ? bytes / MIB : undefined, minimumMb, "taskSpec.resources.limits.memoryBytes");
            if (message) {
                reportViolation(message);
            }
        }),
        validateContainer((container, props, args, reportViolation) => {
            const { components, minimumMb } = configOf<MemoryConfig>(args, memorySchema);
            if (!hasComponent(container, components) || isUnknown(props.memory)) {
                return;
            }
            const message = memoryMessage(container, typeof props.memory === "number" ? props.memory : undefined, minimumMb, "memory");
            if (message) {
                reportViolation(message);
            }
        }),
    ],
};

// ---------------------------------------------------------------------------------------------
// Hardening

/** Config of long-running-read-only-root. */
interface ReadOnlyConfig extends ComponentsConfig {
    readonly exemptServices: string[];
}

const readOnlySchema = componentsSchema(LONG_RUNNING_COMPONENTS, "whose root filesystem must be read-only", {
    exemptServices: {
        type: "array",
        items: { type: "string", pattern: "^[a-z][a-z0-9-]{0,30}$" },
        uniqueItems: true,
        default: [],
        description: "Spec services (`opsbook.service`) allowed a writable root filesystem (`services.<name>.readOnlyRootFilesystem: false`).",
    },
});

/** Long-running workloads have a read-only root filesystem. */
export const longRunningReadOnlyRoot: ResourceValidationPolicy = {
    name: "long-running-read-only-root",
    description:
        "Every long-running service (`taskSpec.containerSpec.readOnly`) and the gateway container (`readOnly`) has a read-only root filesystem: " +
        "writes go to tmpfs mounts and volumes, so a compromised process cannot change the code it runs. Spec services listed in the config may opt out.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: readOnlySchema,
    validateResource: [
        validateService((service, props, args, reportViolation) => {
            const { components, exemptServices } = configOf<ReadOnlyConfig>(args, readOnlySchema);
            const readOnly = props.taskSpec?.containerSpec?.readOnly;
            if (!hasComponent(service, components) || isUnknown(readOnly) || readOnly === true) {
                return;
            }
            if (service.specService && exemptServices.includes(service.specService)) {
                return;
            }
            reportViolation(
                `${describe(service)} has a writable root filesystem; set \`taskSpec.containerSpec.readOnly\` to true` +
                    (service.specService
                        ? ` (remove \`opsbook:services.${service.specService}.readOnlyRootFilesystem: false\` and write to /tmp or a volume), or list \`${service.specService}\` in this policy's \`exemptServices\`.`
                        : "."),
            );
        }),
        validateContainer((container, props, args, reportViolation) => {
            const { components } = configOf<ReadOnlyConfig>(args, readOnlySchema);
            if (hasComponent(container, components) && !isUnknown(props.readOnly) && props.readOnly !== true) {
                reportViolation(`${describe(container)} has a writable root filesystem; set \`readOnly\` to true and give it tmpfs mounts where it writes.`);
            }
        }),
    ],
};

const capSchema = componentsSchema(LONG_RUNNING_COMPONENTS, "that must drop every capability");

function dropsAll(drops: unknown): boolean | undefined {
    if (isUnknown(drops)) {
        return undefined;
    }
    return knownStrings(drops).some((c) => c.toUpperCase() === "ALL" || c.toUpperCase() === "CAP_ALL");
}

/** Long-running workloads drop every Linux capability. */
export const longRunningCapDropAll: ResourceValidationPolicy = {
    name: "long-running-cap-drop-all",
    description:
        "Every long-running service (`taskSpec.containerSpec.capDrops`) and the gateway container (`capabilities.drops`) drops `ALL` Linux capabilities, " +
        "so a process that is root inside its task still cannot change ownership, bind raw sockets or load modules.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: capSchema,
    validateResource: [
        validateService((service, props, args, reportViolation) => {
            const { components } = configOf<ComponentsConfig>(args, capSchema);
            if (hasComponent(service, components) && dropsAll(props.taskSpec?.containerSpec?.capDrops) === false) {
                reportViolation(`${describe(service)} does not drop every capability; add \`ALL\` to \`taskSpec.containerSpec.capDrops\` (components/hardening.ts HARDENED_CONTAINER).`);
            }
        }),
        validateContainer((container, props, args, reportViolation) => {
            const { components } = configOf<ComponentsConfig>(args, capSchema);
            if (hasComponent(container, components) && dropsAll(props.capabilities?.drops) === false) {
                reportViolation(`${describe(container)} does not drop every capability; add \`ALL\` to \`capabilities.drops\`.`);
            }
        }),
    ],
};

// ---------------------------------------------------------------------------------------------
// One writer per volume

const singleWriterSchema = componentsSchema(["database", "cache", "backup", "scheduler"], "that must never run two tasks at once, volume or not");

/** The volumes and host directories a service writes to (by source; `?` when not known yet); read-only mounts write nothing. */
function volumesOf(mounts: unknown): string[] {
    return (Array.isArray(mounts) ? mounts : [])
        .filter((m) => isRecord(m) && (m.type === "volume" || m.type === "bind") && m.readOnly !== true)
        .map((m) => knownString((m as Record<string, unknown>).source) ?? "?");
}

/** Never two writers on one volume: single-writer services update stop-first and run one task. */
export const singleWriterStopFirst: ResourceValidationPolicy = {
    name: "single-writer-stop-first",
    description:
        "A service that writes state no second copy may touch (components database, cache, backup, scheduler, and every service that mounts a volume) " +
        "updates and rolls back stop-first (`updateConfig.order` and `rollbackConfig.order`; Swarm's default when unset) and runs one replicated task: " +
        "never two writers on one volume, never a job run twice. Two Postgres servers on one data directory corrupt it.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: singleWriterSchema,
    validateResource: validateService((service, props, args, reportViolation) => {
        const { components } = configOf<ComponentsConfig>(args, singleWriterSchema);
        const mounts = props.taskSpec?.containerSpec?.mounts;
        const volumes = isUnknown(mounts) ? [] : volumesOf(mounts);
        if (!hasComponent(service, components) && volumes.length === 0) {
            return;
        }
        const why = volumes.length > 0 ? `it writes to volume${volumes.length > 1 ? "s" : ""} ${listNames(volumes)}` : `it is a \`${service.component}\``;
        for (const [key, order] of [
            ["updateConfig.order", props.updateConfig?.order],
            ["rollbackConfig.order", props.rollbackConfig?.order],
        ] as const) {
            if (order === "start-first") {
                reportViolation(
                    `${describe(service)} has \`${key}\` \`start-first\`, so a release runs the new task beside the old one, but ${why}; ` +
                        "set it to `stop-first` (AppService `exclusive: true`; the program sets it for services with volumes or `singleInstance: always`).",
                );
            }
        }
        const mode = props.mode;
        const replicas = isRecord(mode) && isRecord(mode.replicated) ? mode.replicated.replicas : undefined;
        if (isRecord(mode) && mode.global === true) {
            reportViolation(`${describe(service)} runs in global mode (one task per node), but ${why}; run it replicated with one replica.`);
        } else if (typeof replicas === "number" && replicas > 1) {
            reportViolation(`${describe(service)} runs ${replicas} replicas, but ${why}; set its replicas to 1.`);
        }
    }),
};

export const containerPolicies = [
    noPublishedDataPorts,
    noPublicBind,
    longRunningHealthCheck,
    longRunningRestartPolicy,
    longRunningMemoryLimit,
    longRunningReadOnlyRoot,
    longRunningCapDropAll,
    singleWriterStopFirst,
];
