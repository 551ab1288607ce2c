// Rules across containers: a value two services must agree on (the prediction market's
// REALITY_API_SECRET between backend and reality-engine) is the same everywhere it is set.
// A stack policy, since no single resource can see the others.
import type { StackValidationPolicy } from "@pulumi/policy";
import { CONTAINER_TYPE, contractList, describeContainer, envValue, forStacksWith, resourcesOfDynamicType, serviceOf } from "./lib";

/** Names in any container's `equalAcrossServices` have one value across every container that sets them. */
export const envEqualAcrossServices: StackValidationPolicy = {
    name: "env-equal-across-services",
    description:
        "An env name that any container's contract lists in equalAcrossServices has the same value in every container of the stack that sets it, " +
        "e.g. REALITY_API_SECRET in the backend and the reality engine. Messages name both services and the key, never the values.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateStack: forStacksWith(CONTAINER_TYPE, (args, reportViolation) => {
        const containers = resourcesOfDynamicType(args.resources, "Container");
        const names = new Set<string>();
        for (const { props } of containers) {
            for (const name of contractList(props, "equalAcrossServices")) {
                names.add(name);
            }
        }
        for (const name of [...names].sort()) {
            // The first container (in stack order) that sets the name is the reference; each one that
            // differs from it is reported once, against its own URN, so the fix is named per container.
            let reference: { label: string; service: string | undefined; value: string } | undefined;
            for (const { resource, props } of containers) {
                const reading = envValue(props, name);
                if (reading.state !== "set") {
                    continue;
                }
                const label = describeContainer(resource.name, props);
                if (!reference) {
                    reference = { label, service: serviceOf(props), value: reading.value };
                    continue;
                }
                if (reading.value !== reference.value) {
                    const service = serviceOf(props);
                    const fix =
                        service && reference.service && service !== reference.service
                            ? `give services \`${reference.service}\` and \`${service}\` the same value, e.g. declare \`${name}\` with source \`generated\` in both (one generated value is shared by name)`
                            : `give both the same value`;
                    reportViolation(
                        `\`${name}\` differs between ${reference.label} and ${label}, but must be equal wherever it is set; ${fix}.`,
                        resource.urn,
                    );
                }
            }
        }
    }),
};

export const consistencyPolicies = [envEqualAcrossServices];
