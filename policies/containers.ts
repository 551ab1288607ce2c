// Rules on how containers run: data stores stay off the host's ports, and everything long-running
// is supervised (health check, restart policy, memory limit), as the runbooks' uptime checks and
// "restart the worker" steps assume.
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import type { ContainerInputs } from "../providers/docker";
import { LONG_RUNNING_ROLES, configOf, describeContainer, isUnknown, listNames, validateResourceOfDynamicType } from "./lib";

const ROLE_NAMES = ["database", "cache", "service", "worker", "job"];

/** A schema with one `roles` property: the container roles a rule applies to. */
function rolesSchema(defaults: readonly string[], what: string): PolicyConfigSchema {
    return {
        properties: {
            roles: {
                type: "array",
                items: { type: "string", enum: ROLE_NAMES },
                uniqueItems: true,
                default: [...defaults],
                description: `Container roles ${what}.`,
            },
        },
    };
}

interface RolesConfig {
    readonly roles: string[];
}

/** True when the container's role is one of the configured roles (an unknown role never is). */
function hasRole(container: Pick<ContainerInputs, "role">, roles: readonly string[]): boolean {
    return typeof container.role === "string" && roles.includes(container.role);
}

const publishSchema = rolesSchema(["database", "cache"], "that must not publish a port");

/** Databases and caches publish no port. */
export const noPublishedDataPorts: ResourceValidationPolicy = {
    name: "no-published-data-ports",
    description:
        "Database and cache containers publish no port on the host, not even on 127.0.0.1: services reach them on the stack's private network, " +
        "and an operator uses 'docker exec'. A published database port is one firewall rule away from the internet.",
    enforcementLevel: "mandatory",
    severity: "critical",
    configSchema: publishSchema,
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const { roles } = configOf<RolesConfig>(args, publishSchema);
        if (!hasRole(container, roles) || isUnknown(container.publish) || !Array.isArray(container.publish)) {
            return;
        }
        if (container.publish.length > 0) {
            const ports = container.publish.map((p) => String(p));
            reportViolation(
                `${describeContainer(args.name, container)} has role \`${container.role}\` and publishes port${ports.length > 1 ? "s" : ""} ${listNames(ports)}; ` +
                    `set \`publish\` to [] and reach it on the stack network (or with 'docker exec') instead.`,
            );
        }
    }),
};

const healthSchema = rolesSchema(LONG_RUNNING_ROLES, "that must have a health check");

/** Long-running containers have a health check. */
export const longRunningHealthCheck: ResourceValidationPolicy = {
    name: "long-running-health-check",
    description:
        "Every long-running container (role service, worker, database or cache) has a health check, so a deploy waits for it to be healthy " +
        "and a hung process shows as unhealthy instead of running.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: healthSchema,
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const { roles } = configOf<RolesConfig>(args, healthSchema);
        if (!hasRole(container, roles) || isUnknown(container.healthCheck)) {
            return;
        }
        const test = (container.healthCheck as { test?: unknown } | undefined)?.test;
        if (isUnknown(test)) {
            return;
        }
        const valid = Array.isArray(test) && test.length > 0 && test[0] !== "NONE" && (test.length > 1 || test[0] !== "CMD");
        if (!valid) {
            reportViolation(
                `${describeContainer(args.name, container)} has role \`${container.role}\` but no health check; ` +
                    `give it \`healthCheck\` (its component's health path, or a CMD that exits 0 when it is ready).`,
            );
        }
    }),
};

const restartSchema = rolesSchema(LONG_RUNNING_ROLES, "that must restart on their own");

/** Long-running containers restart on their own. */
export const longRunningRestartPolicy: ResourceValidationPolicy = {
    name: "long-running-restart-policy",
    description:
        "Every long-running container has a restart policy other than `no` (`unless-stopped`, `always` or `on-failure`), " +
        "so a crash or a host reboot does not leave the service down until someone notices.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: restartSchema,
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const { roles } = configOf<RolesConfig>(args, restartSchema);
        if (!hasRole(container, roles) || isUnknown(container.restartPolicy)) {
            return;
        }
        const policy = container.restartPolicy as string | undefined;
        if (policy === undefined || policy === "" || policy === "no") {
            reportViolation(
                `${describeContainer(args.name, container)} has role \`${container.role}\` and restart policy \`${policy ?? "none"}\`; ` +
                    `set \`restartPolicy\` to \`unless-stopped\` (the hardened default).`,
            );
        }
    }),
};

const memorySchema: PolicyConfigSchema = {
    properties: {
        ...rolesSchema(LONG_RUNNING_ROLES, "that must have a memory limit").properties,
        minimumMb: {
            type: "integer",
            minimum: 1,
            default: 1,
            description: "The smallest memory limit accepted, in MiB.",
        },
    },
};

interface MemoryConfig extends RolesConfig {
    readonly minimumMb: number;
}

/** Long-running containers have a memory limit. */
export const longRunningMemoryLimit: ResourceValidationPolicy = {
    name: "long-running-memory-limit",
    description:
        "Every long-running container has a memory limit (memoryMb) greater than zero and at least the configured minimum, " +
        "so a leak ends in the container being killed and restarted rather than in the host swapping.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: memorySchema,
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const { roles, minimumMb } = configOf<MemoryConfig>(args, memorySchema);
        if (!hasRole(container, roles) || isUnknown(container.memoryMb)) {
            return;
        }
        const memory = container.memoryMb;
        const limit = Math.max(minimumMb, Number.MIN_VALUE);
        if (typeof memory !== "number" || !Number.isFinite(memory) || memory < limit) {
            const now = typeof memory === "number" && Number.isFinite(memory) && memory > 0 ? `a limit of ${memory} MiB` : "no memory limit";
            reportViolation(
                `${describeContainer(args.name, container)} has role \`${container.role}\` and ${now}; ` +
                    `set \`memoryMb\` to at least ${minimumMb} (the component's \`memoryMb\` option in the stack config).`,
            );
        }
    }),
};

export const containerPolicies = [noPublishedDataPorts, longRunningHealthCheck, longRunningRestartPolicy, longRunningMemoryLimit];
