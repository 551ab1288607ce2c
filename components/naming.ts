// Naming and labelling rules shared by every component. Pure functions: tests need no engine.
import { LABEL_COMPONENT, LABEL_PROJECT, LABEL_STACK } from "../providers/docker";

/** Where a resource belongs: every engine object of a stack is named and labelled from this. */
export interface StackIdentity {
    /** The Pulumi project name. */
    readonly project: string;
    /** The Pulumi stack name (staging, production, ...). */
    readonly stack: string;
}

/** Docker object names allow [a-zA-Z0-9][a-zA-Z0-9_.-]; stack names may hold other characters. */
export function engineName(identity: StackIdentity, ...parts: string[]): string {
    return [identity.project, identity.stack, ...parts]
        .join("-")
        .toLowerCase()
        .replace(/[^a-z0-9_.-]+/g, "-")
        .replace(/^[^a-z0-9]+/, "");
}

/** The labels a stack's containers, networks and volumes carry. */
export function stackLabels(identity: StackIdentity, component: string): Record<string, string> {
    return {
        [LABEL_PROJECT]: identity.project,
        [LABEL_STACK]: identity.stack,
        [LABEL_COMPONENT]: component,
    };
}
