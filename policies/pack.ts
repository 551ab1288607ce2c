// The pack's contents, without starting it: index.ts hands these to PolicyPack (which starts a gRPC
// server), while tests and the benchmark import them from here.
import type { PolicyPackArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { consistencyPolicies } from "./consistency";
import { containerPolicies } from "./containers";
import { envPolicies } from "./env";
import { productionPolicies } from "./production";

/** The name `pulumi up --policy-pack` reports violations under. */
export const PACK_NAME = "opsbook";

/** Every policy of the pack, in the order the README lists them. */
export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
    ...envPolicies,
    ...consistencyPolicies,
    ...productionPolicies,
    ...containerPolicies,
];

export const packArgs: PolicyPackArgs = {
    description:
        "Refuses an opsbook deploy that would start a service with a missing, malformed, placeholder or mismatched secret, a secret in plain env, " +
        "a label or a command line, a published database port or a port on every address, an unsupervised or unhardened long-running service, " +
        "two writers on one volume, a floating image, or a database without backups.",
    displayName: "opsbook runbook rules",
    enforcementLevel: "mandatory",
    tags: ["opsbook", "docker", "secrets"],
    policies,
};
