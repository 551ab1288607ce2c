// How secrets reach policies, and proof that no message carries a value.
//
// The engine marshals a resource's inputs (and, for stack rules, its outputs) with KeepSecrets, so a
// docker.Secret's `data` arrives inside the wire's secret signature. @pulumi/policy 1.21 unwraps it
// before a validation sees it (proxySecrets=false); remediations get it wrapped in `Secret`. The
// pack reads props through `plain()`, which accepts every form; these tests run each rule that
// reads values under every delivery with distinctive secrets and check that the rule still sees
// the value (it reports) and that the message does not contain it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { envEqualAcrossServices, noSecretInPlainSight } from "../../policies/consistency";
import { envEitherOrGroups, envNoPlaceholderValues, envNoSecretLookingPlainEnv, envRequiredPresent, envValueFormats } from "../../policies/env";
import { plain } from "../../policies/lib";
import { envRequiredInProduction } from "../../policies/production";
import { SECRET_VALUES, apiSpec, mountOf, secretNames, secretProps, serviceProps, validStack, withEnv, workerSpec } from "./fixtures";
import { DELIVERIES, INPUT_SECRETS, SECRET, deliver, runResourcePolicy, runStackPolicy, type StackEntry } from "./harness";

const CANARY = "CANARY-zq81-Vw7x";

/** Every secret of the stack with the canary in it (formats kept valid where a rule checks them). */
const CANARIES: Record<string, string> = Object.fromEntries(
    Object.entries(SECRET_VALUES).map(([k, v]) => [
        k,
        k === "TRADING_KEY_ENCRYPTION_KEY" ? v : k.endsWith("_URL") ? v.replace("@", `${CANARY}@`) : `${v}-${CANARY}`,
    ]),
);
const LEAKS = [CANARY, ...Object.values(CANARIES)];

const resourceCases: [ResourceValidationPolicy, object][] = [
    [envRequiredPresent, serviceProps(withEnv(apiSpec(), "API_KEY", "absent"))],
    [envEitherOrGroups, serviceProps(withEnv(withEnv(apiSpec(), "OIDC_AUDIENCE", "absent"), "OIDC_ISSUER", { plain: `https://${CANARY}.auth.test/` }))],
    [envRequiredInProduction, serviceProps(withEnv(apiSpec(), "EOD_CRON_SECRET", "absent"))],
    [envNoSecretLookingPlainEnv, serviceProps(withEnv(apiSpec(), "ADMIN_TOKEN", { plain: CANARIES.API_KEY }))],
];

const shared = (key: string, value: string): StackEntry => ({ name: secretNames(key).resourceName, type: SECRET, props: secretProps(key, value) });

const stackCases: [StackValidationPolicy, StackEntry[]][] = [
    [envValueFormats, validStack({ secrets: { ...CANARIES, TRADING_KEY_ENCRYPTION_KEY: `${CANARY}-not-hex` } })],
    [envNoPlaceholderValues, validStack({ secrets: { ...CANARIES, API_KEY: `sk-${CANARY}...` } })],
    [
        envEqualAcrossServices,
        validStack({
            secrets: CANARIES,
            worker: serviceProps({ ...workerSpec(), secrets: mountOf(["DATABASE_URL", "REALITY_API_SECRET"], { REALITY_API_SECRET: "REALITY_API_SECRET_B" }) }),
            extra: [shared("REALITY_API_SECRET_B", `${CANARY}-b`)],
        }),
    ],
    [noSecretInPlainSight, validStack({ secrets: CANARIES, api: serviceProps({ ...apiSpec(), env: { ...apiSpec().env, NOTE: `x ${CANARIES.EOD_CRON_SECRET}` } }) })],
];

describe("secrets as policies see them", () => {
    it("reach a validation unwrapped (engine), wrapped in Secret (remediation) or signed (wire); plain() reads all the same", () => {
        const props = secretProps("API_KEY", SECRET_VALUES.API_KEY);
        const engine = deliver(props, "engine", INPUT_SECRETS) as { data: unknown };
        assert.equal(engine.data, props.data);
        // Two proxies deep: the unknown-checking proxy around the secrets-preserving one, whose reads unwrap.
        type Proxied = { __getSpecialProxyTarget: Proxied; data: unknown };
        const wrapped = deliver(props, "wrapped", INPUT_SECRETS) as unknown as Proxied;
        assert.equal(wrapped.data, props.data);
        const raw = wrapped.__getSpecialProxyTarget.__getSpecialProxyTarget.data as { constructor: { name: string }; value: unknown };
        assert.equal(raw.constructor.name, "Secret");
        assert.equal(raw.value, props.data);
        const wire = deliver(props, "wire", INPUT_SECRETS) as { data: Record<string, unknown> };
        assert.equal(wire.data.value, props.data);
        for (const delivery of DELIVERIES) {
            assert.deepEqual(plain(deliver(props, delivery, INPUT_SECRETS)), JSON.parse(JSON.stringify(props)), delivery);
        }
    });
});

function assertNoLeak(policy: string, message: string): void {
    for (const value of LEAKS) {
        assert.ok(!message.includes(value), `${policy} leaks a value into: ${message}`);
    }
}

describe("no message contains a secret value", () => {
    for (const [policy, props] of resourceCases) {
        for (const delivery of DELIVERIES) {
            it(`${policy.name} (${delivery})`, async () => {
                const messages = await runResourcePolicy(policy, { props, delivery });
                assert.equal(messages.length, 1, `expected one violation, got ${JSON.stringify(messages)}`);
                messages.forEach((m) => assertNoLeak(policy.name, m));
            });
        }
    }

    for (const [policy, resources] of stackCases) {
        for (const delivery of DELIVERIES) {
            it(`${policy.name} (${delivery}, docker.Secret data read from the stack)`, async () => {
                const violations = await runStackPolicy(policy, { resources, delivery });
                assert.equal(violations.length, 1, `expected one violation, got ${JSON.stringify(violations)}`);
                violations.forEach((v) => assertNoLeak(policy.name, v.message));
            });
        }
    }
});

