// The baseline every long-running swarm service of a stack gets unless its component says
// otherwise, and the health check that needs nothing inside the image. Kept in one place so that
// a reviewer, the components and the policy pack see one baseline.
import type * as docker from "@pulumi/docker";

type Input<T> = import("@pulumi/pulumi").Input<T>;

/** Where the stack's HTTP probe (a swarm config holding a static binary) appears in every task. */
export const PROBE_PATH = "/opsbook-probe";

/** Restart policy of long-running services: always back, with a short pause between attempts. */
export const RESTART_POLICY: docker.types.input.ServiceTaskSpecRestartPolicy = { condition: "any", delay: "2s", window: "30s" };

/** Logs rotated by the engine: 10 MB x 3 per task. */
export const LOG_DRIVER: docker.types.input.ServiceTaskSpecLogDriver = { name: "json-file", options: { "max-size": "10m", "max-file": "3" } };

/** Seconds a task gets to finish in-flight work after SIGTERM. */
export const STOP_GRACE_SECONDS = 10;

/**
 * A private, size-limited tmpfs (e.g. /tmp, since the root filesystem is read-only), writable by
 * the task's user whoever it is. Mode 0777, not 1777: the provider reads the mode back as
 * permission bits only, so a sticky bit would read as a change on every refresh and roll every
 * service; the tmpfs belongs to one task, so there is no other user to protect files from.
 */
export function tmpfsMount(target: string, sizeMb: number): docker.types.input.ServiceTaskSpecContainerSpecMount {
    return { type: "tmpfs", target, tmpfsOptions: { sizeBytes: sizeMb * 1024 * 1024, mode: 0o777 } };
}

/**
 * Container settings every service starts from: read-only root, no capabilities, a private /tmp.
 * (Swarm's service spec on this engine has no no-new-privileges switch; dropping every capability
 * and running as a non-root user is what keeps a process from gaining privileges.)
 */
export const HARDENED_CONTAINER: Pick<docker.types.input.ServiceTaskSpecContainerSpec, "readOnly" | "capDrops" | "stopGracePeriod"> = {
    readOnly: true,
    capDrops: ["ALL"],
    stopGracePeriod: duration(STOP_GRACE_SECONDS),
};

/** Timing of a health check: polled often while a task starts, so releases wait seconds, not minutes. */
export interface HealthTiming {
    readonly intervalSeconds?: number;
    readonly timeoutSeconds?: number;
    readonly retries?: number;
    readonly startPeriodSeconds?: number;
}

/**
 * A duration as the docker provider reads it back ("1h", "1h0m1s", "2m", "1m30s", "45s": Go's
 * duration text without trailing zero units): written the same way, a no-op deploy finds nothing
 * to change. Pure.
 */
export function duration(seconds: number): string {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    let text = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
    if (text.endsWith("m0s")) {
        text = text.slice(0, -2);
    }
    if (text.endsWith("h0m")) {
        text = text.slice(0, -2);
    }
    return text;
}

/**
 * Health timing of the stack's one-task data services (Postgres, Redis). They are updated
 * stop-first, so each restart is an outage for every service that uses them, and a stateless
 * service whose own health check asks them fails with them (its tasks are then restarted too). A
 * check that is only slow must not restart them: on a busy machine the engine's exec of the
 * check waits for CPU (seen here: Redis's check ran past 3 s three times in a row during a
 * release on a loaded two-core host, and Swarm restarted Redis). 10 s per check and 5 failures
 * in a row: a server that hangs is still restarted, within about a minute; one that exits is
 * restarted at once, health check or not.
 */
export const DATA_SERVICE_HEALTH: HealthTiming = { timeoutSeconds: 10, retries: 5 };

/** A health check in the engine's exec form (no shell is assumed in the image). */
export function healthcheck(tests: Input<string>[], timing: HealthTiming = {}): docker.types.input.ServiceTaskSpecContainerSpecHealthcheck {
    return {
        tests: ["CMD", ...tests] as Input<string>[],
        interval: duration(timing.intervalSeconds ?? 2),
        timeout: duration(timing.timeoutSeconds ?? 3),
        retries: timing.retries ?? 3,
        startPeriod: duration(timing.startPeriodSeconds ?? 60),
    };
}

/**
 * An HTTP check of any image: the stack's static probe (mounted from a swarm config) asks
 * `http://127.0.0.1:<port><path>` from inside the task's own network namespace. Nothing of the
 * image is used: no shell, no curl, no Node.js.
 */
export function httpHealthcheck(port: number, path: string, timing: HealthTiming = {}): docker.types.input.ServiceTaskSpecContainerSpecHealthcheck {
    return healthcheck([PROBE_PATH, `http://127.0.0.1:${port}${path}`, "--timeout", String(timing.timeoutSeconds ?? 3)], timing);
}
