// The one place that reads stack config. Everything downstream receives the typed spec.
import * as pulumi from "@pulumi/pulumi";
import { Spec, parseSpec } from "./components/spec";

export interface StackSettings {
    readonly project: string;
    readonly stack: string;
    readonly spec: Spec;
}

/** Top-level keys of the `opsbook:` namespace that make up the spec. */
const SPEC_KEYS = ["images", "postgres", "redis", "services"] as const;

export function readStackSettings(): StackSettings {
    const config = new pulumi.Config("opsbook");
    const raw: Record<string, unknown> = {};
    for (const key of SPEC_KEYS) {
        raw[key] = config.getObject(key);
    }
    return { project: pulumi.getProject(), stack: pulumi.getStack(), spec: parseSpec(raw) };
}
