// Naming and labelling rules shared by every component and read by the policy pack and the
// scripts. Pure functions: tests need no engine.
import type { EngineConnection } from "../providers/engineCli";

/** Labels every engine object of a stack carries (`docker service ls --filter label=...`). */
export const LABEL_PROJECT = "opsbook.project";
export const LABEL_STACK = "opsbook.stack";
export const LABEL_COMPONENT = "opsbook.component";
/** The spec's name of a service (api, web, ...), on the services the spec declares. */
export const LABEL_SERVICE = "opsbook.service";
/** The env name a swarm secret is delivered under (the file is /run/secrets/<name>). */
export const LABEL_SECRET_ENV = "opsbook.secret-env";
/** Which stack secret each `NAME_FILE` of a service is, as JSON `{NAME: key}`: names and keys only. */
export const LABEL_SECRET_BINDINGS = "opsbook.secrets";
/** The image reference a person wrote; the service itself runs the image ID it resolved to. */
export const LABEL_IMAGE_REF = "opsbook.image-ref";
/** Set to `image` on a service whose health check is its image's own HEALTHCHECK (the spec asked for it). */
export const LABEL_HEALTHCHECK = "opsbook.healthcheck";
/** The env contract of a service, as JSON (see envContract.ts), for the policy pack. */
export const LABEL_ENV_CONTRACT = "opsbook.env-contract";
/** Which monitoring part a service is (prometheus, alertmanager, blackbox-exporter, redis-exporter). */
export const LABEL_MONITORING_PART = "opsbook.monitoring";
/** On the Alertmanager service: its receivers and whether each one's secrets are set, as JSON (config keys only, never a value). */
export const LABEL_ALERT_RECEIVERS = "opsbook.alert-receivers";

/** Where a resource belongs: every engine object of a stack is named and labelled from this. */
export interface StackIdentity {
    /** The Pulumi project name. */
    readonly project: string;
    /** The Pulumi stack name (staging, production, ...). */
    readonly stack: string;
    /** The engine the stack's docker CLI calls reach, when it is not this machine's default one. */
    readonly engine?: EngineConnection;
    /** Set when the swarm has more nodes (`opsbook:engine.nodes`); undefined on one node. */
    readonly placement?: StackPlacement;
}

/** Where a multi-node stack's tasks go: node labels set by providers/swarmNode.ts. */
export interface StackPlacement {
    /** The constraint of the node that holds the stack's data: every service with a volume runs there. */
    readonly dataConstraint: string;
    /** The label whose value names each node of the stack (`manager` or the name in `engine.nodes`): replicas spread over its values. */
    readonly nodeLabel: string;
    /** Where one-shot jobs run: the manager, which has every image of the stack. */
    readonly jobConstraint: string;
}

/** The node labels of a stack on several nodes: which node a node is, and which holds the data. Pure. */
export function stackNodeLabels(identity: Pick<StackIdentity, "project" | "stack">): { node: string; data: string } {
    const base = `opsbook.${identity.project}.${identity.stack}`.replace(/[^a-zA-Z0-9_.-]/g, "_");
    return { node: `${base}.node`, data: `${base}.data` };
}

/** The placement of a stack whose swarm has the nodes of `opsbook:engine.nodes`. Pure. */
export function stackPlacement(identity: Pick<StackIdentity, "project" | "stack">): StackPlacement {
    const labels = stackNodeLabels(identity);
    return { dataConstraint: `node.labels.${labels.data}==true`, nodeLabel: labels.node, jobConstraint: "node.role==manager" };
}

/** Docker object names allow [a-zA-Z0-9][a-zA-Z0-9_.-]; stack names may hold other characters. */
export function engineName(identity: StackIdentity, ...parts: string[]): string {
    return [identity.project, identity.stack, ...parts]
        .join("-")
        .toLowerCase()
        .replace(/[^a-z0-9_.-]+/g, "-")
        .replace(/^[^a-z0-9]+/, "");
}

/** The labels a stack's services, secrets, networks and volumes carry. */
export function stackLabels(identity: StackIdentity, component: string): Record<string, string> {
    return {
        [LABEL_PROJECT]: identity.project,
        [LABEL_STACK]: identity.stack,
        [LABEL_COMPONENT]: component,
    };
}

/** Labels in the shape @pulumi/docker takes them: a list of `{label, value}`, sorted for stable diffs. */
export function labelList(labels: Record<string, string>): { label: string; value: string }[] {
    return Object.keys(labels)
        .sort()
        .map((label) => ({ label, value: labels[label] }));
}
