// Rules across resources: a value two services must agree on (the prediction market's
// REALITY_API_SECRET between backend and reality-engine) is the same everywhere it is set, and no
// secret's value shows up where anyone who can inspect the engine or read the state sees it.
// Stack rules, since no single resource can see the others (or the secrets' values).
import type { StackValidationPolicy } from "@pulumi/policy";
import { UNKNOWN, type EnvReading, type StackSecret, type Workload, contractOf, describe, fileEnvName, isRecord, labelMap, plain, validateStackView } from "./lib";

/** The docker.Secret a reading comes from, if any. */
function secretOf(reading: EnvReading): StackSecret | undefined {
    return reading.state === "absent" ? undefined : reading.from;
}

/** True when two readings are known to hold different values; false when equal or not comparable. */
function differ(a: EnvReading, b: EnvReading): boolean {
    if (a.state === "absent" || b.state === "absent") {
        return false;
    }
    // Two services bound to one docker.Secret agree by construction, known value or not.
    const sa = secretOf(a);
    const sb = secretOf(b);
    if (sa && sb && sa.resource.urn === sb.resource.urn) {
        return false;
    }
    if (a.state !== "set" || b.state !== "set") {
        return false;
    }
    return a.value !== b.value;
}

/** Names in any service's `equalAcrossServices` have one value across every service that sets them. */
export const envEqualAcrossServices: StackValidationPolicy = {
    name: "env-equal-across-services",
    description:
        "An env name that any service's contract lists in equalAcrossServices has the same value in every service of the stack that sets it, " +
        "e.g. REALITY_API_SECRET in the backend and the reality engine. Services bound to the same docker.Secret agree by construction; " +
        "otherwise the plain or decoded secret values are compared. Messages name both services and the key, never the values.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateStack: validateStackView((view, _args, reportViolation) => {
        const services = view.services;
        const names = new Set<string>();
        for (const service of services) {
            for (const name of contractOf(service).contract.equalAcrossServices) {
                names.add(name);
            }
        }
        for (const name of [...names].sort()) {
            // The first service (in stack order) that sets the name is the reference; each one that
            // differs from it is reported once, against its own URN, so the fix is named per service.
            let reference: { service: Workload; reading: EnvReading } | undefined;
            for (const service of services) {
                const reading = view.read(service, name);
                if (reading.state === "absent") {
                    continue;
                }
                if (!reference) {
                    reference = { service, reading };
                    continue;
                }
                if (!differ(reference.reading, reading)) {
                    continue;
                }
                const a = reference.service.specService;
                const b = service.specService;
                const refSecret = secretOf(reference.reading);
                const secret = secretOf(reading);
                const bound = refSecret && secret ? ` (they bind different secrets: \`${refSecret.key}\` and \`${secret.key}\`)` : "";
                const fix =
                    a && b && a !== b
                        ? `give services \`${a}\` and \`${b}\` the same value, e.g. declare \`${name}\` with source \`generated\` in both (one generated value is shared by name)`
                        : `give both the same value`;
                reportViolation(
                    `\`${name}\` differs between ${describe(reference.service)} and ${describe(service)}${bound}, but must be equal wherever it is set; ${fix}.`,
                    service.urn,
                );
            }
        }
    }),
};

/** Secrets shorter than this are looked for as whole values only: a short one would be found inside unrelated text. */
export const MIN_CONTAINED_SECRET_LENGTH = 8;

/** The forms of a secret value that count as showing it (the URL-encoded form is how it sits in a URL). */
function secretForms(value: string): string[] {
    return [...new Set([value, encodeURIComponent(value)])];
}

function shows(text: string, secret: string): boolean {
    if (text === secret) {
        return true;
    }
    return secret.length >= MIN_CONTAINED_SECRET_LENGTH && secretForms(secret).some((form) => text.includes(form));
}

/** Where a workload shows its values: plain env, labels, command line. */
function places(workload: Workload): { where: string; text: string }[] {
    const out: { where: string; text: string }[] = [];
    for (const [name, value] of Object.entries(workload.env)) {
        if (value !== UNKNOWN) {
            out.push({ where: `plain env \`${name}\``, text: value });
        }
    }
    for (const [label, value] of Object.entries(workload.labels)) {
        out.push({ where: `label \`${label}\``, text: value });
    }
    workload.commandLine.forEach((arg, i) => out.push({ where: `command line (argument ${i + 1})`, text: arg }));
    return out;
}

/** No service env value, label or command line contains a secret's value. */
export const noSecretInPlainSight: StackValidationPolicy = {
    name: "no-secret-in-plain-sight",
    description:
        "No secret's value (the base64-decoded `data` of a docker.Secret of the stack) appears in a service's, the gateway's or a one-shot job's plain env, labels " +
        "or command line, nor in any other resource's labels: those are shown by 'docker inspect' and 'docker service ls' and kept in clear in the state. " +
        `A value equal to a secret counts; so does one that contains a secret of ${MIN_CONTAINED_SECRET_LENGTH} characters or more (or its URL-encoded form). ` +
        "Secrets reach a process only as files under /run/secrets.",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateStack: validateStackView((view, args, reportViolation) => {
        const secrets = view.secrets.filter((s): s is StackSecret & { value: string } => s.value !== UNKNOWN && s.value.trim() !== "");
        if (secrets.length === 0) {
            return;
        }
        const sameStack = (s: StackSecret, w: Workload) => s.stack === undefined || w.stack === undefined || s.stack === w.stack;
        for (const workload of view.workloads) {
            for (const { where, text } of places(workload)) {
                for (const secret of secrets) {
                    if (!sameStack(secret, workload) || !shows(text, secret.value)) {
                        continue;
                    }
                    reportViolation(
                        `${describe(workload)} shows the value of secret \`${secret.key}\` (docker.Secret \`${secret.resource.name}\`) in its ${where}; ` +
                            `remove it from there and let the process read the secret from its file (/run/secrets/<NAME>, named by \`${fileEnvName("<NAME>")}\`).`,
                        workload.urn,
                    );
                }
            }
        }
        // Labels of everything else (networks, volumes, configs, the secrets themselves).
        const workloadUrns = new Set(view.workloads.map((w) => w.urn));
        for (const resource of args.resources) {
            if (workloadUrns.has(resource.urn)) {
                continue;
            }
            const props = plain(resource.props);
            if (!isRecord(props)) {
                continue;
            }
            for (const [label, value] of Object.entries(labelMap(props.labels))) {
                for (const secret of secrets) {
                    if (shows(value, secret.value)) {
                        reportViolation(
                            `\`${resource.name}\` (${resource.type}) shows the value of secret \`${secret.key}\` (docker.Secret \`${secret.resource.name}\`) in its label \`${label}\`; remove it from the label.`,
                            resource.urn,
                        );
                    }
                }
            }
        }
    }),
};

export const consistencyPolicies = [envEqualAcrossServices, noSecretInPlainSight];
