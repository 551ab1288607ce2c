// The container defaults every long-running container gets unless a component says otherwise.
// Kept in one place so that a reviewer (and the policy pack) sees one baseline.
import { ContainerInputs, HealthCheck } from "../providers/docker";

export type HardenedFields = Pick<
    ContainerInputs,
    | "restartPolicy"
    | "readOnlyRootFilesystem"
    | "dropAllCapabilities"
    | "addCapabilities"
    | "noNewPrivileges"
    | "logMaxSizeMb"
    | "logMaxFiles"
    | "stopGraceSeconds"
    | "tmpfs"
>;

/**
 * Restart unless stopped by hand, read-only root, no capabilities, no privilege gain, rotated logs
 * (10 MB x 3), 10 s to drain on stop, and a private /tmp since the root is read-only.
 */
export const HARDENED_DEFAULTS: HardenedFields = {
    restartPolicy: "unless-stopped",
    readOnlyRootFilesystem: true,
    dropAllCapabilities: true,
    addCapabilities: [],
    noNewPrivileges: true,
    logMaxSizeMb: 10,
    logMaxFiles: 3,
    stopGraceSeconds: 10,
    tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
};

/** A health check polled often while starting, so deploys wait seconds, not minutes. */
export function healthCheck(test: string[], overrides: Partial<HealthCheck> = {}): HealthCheck {
    return { test, intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 30, ...overrides, };
}

/** An HTTP health check run inside the container with its own Node, so images need no curl. */
export function httpHealthCheck(port: number, path: string): HealthCheck {
    const script =
        `require('http').get({host:'127.0.0.1',port:${port},path:${JSON.stringify(path)},timeout:2500},` +
        `r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;
    return healthCheck(["CMD", "node", "-e", script]);
}
