// How secrets reach policies, and proof that no message carries a value.
//
// The engine marshals a resource's inputs for the analyzer with KeepSecrets, so secret values arrive
// inside the wire's secret signature. @pulumi/policy 1.21 unwraps them before a validation sees them
// (proxySecrets=false): validateResource and validateStack get plain strings. Remediations get them
// wrapped in `Secret`. The pack reads props through `plain()`, which accepts every form; these tests
// run each value-reading rule under every delivery with a distinctive secret and check that the rule
// still sees the value (it reports) and that the message does not contain it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { envEqualAcrossServices } from "../../policies/consistency";
import { envEitherOrGroups, envNoPlaceholderValues, envRequiredPresent, envValueFormats } from "../../policies/env";
import { plain } from "../../policies/lib";
import { envRequiredInProduction } from "../../policies/production";
import { validService, validWorker, withEnv } from "./fixtures";
import { DELIVERIES, INPUT_SECRETS, deliver, runResourcePolicy, runStackPolicy, secretValuesOf } from "./harness";

const CANARY = "CANARY-zq81-Vw7x";

/** A service whose every secret contains the canary, then one change that breaks `policy`. */
function withCanaries(): ReturnType<typeof validService> {
    const props = validService();
    const secretEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(props.secretEnv)) {
        // Keep formats valid where a rule checks them (hex64 stays hex; URLs stay URLs).
        secretEnv[k] = k === "TRADING_KEY_ENCRYPTION_KEY" ? v : k === "DATABASE_URL" ? `postgres://app:${CANARY}@postgres:5432/app` : `${v}-${CANARY}`;
    }
    return { ...props, secretEnv };
}

const resourceCases: [ResourceValidationPolicy, ReturnType<typeof validService>][] = [
    [envRequiredPresent, withEnv(withCanaries(), "API_KEY", undefined)],
    [envEitherOrGroups, withEnv(withEnv(withCanaries(), "OIDC_AUDIENCE", undefined), "OIDC_ISSUER", `https://${CANARY}.auth.test/`)],
    [envValueFormats, withEnv(withCanaries(), "TRADING_KEY_ENCRYPTION_KEY", `${CANARY}-not-hex`)],
    [envNoPlaceholderValues, withEnv(withCanaries(), "OPENAI_API_KEY", `sk-${CANARY}...`)],
    [envRequiredInProduction, withEnv(withCanaries(), "EOD_CRON_SECRET", undefined)],
];

describe("secrets as policies see them", () => {
    it("reach a validation unwrapped (engine), wrapped in Secret (remediation) or signed (wire); plain() reads all the same", () => {
        const props = validService();
        const engine = deliver(props, "engine", INPUT_SECRETS) as { secretEnv: Record<string, unknown> };
        assert.equal(engine.secretEnv.API_KEY, props.secretEnv.API_KEY);
        // Two proxies deep: the unknown-checking proxy around the secrets-preserving one, whose reads unwrap.
        type Proxied = { __getSpecialProxyTarget: Proxied; secretEnv: Record<string, unknown> };
        const wrapped = deliver(props, "wrapped", INPUT_SECRETS) as unknown as Proxied;
        assert.equal(wrapped.secretEnv.API_KEY, props.secretEnv.API_KEY);
        const raw = wrapped.__getSpecialProxyTarget.__getSpecialProxyTarget.secretEnv.API_KEY as { constructor: { name: string }; value: unknown };
        assert.equal(raw.constructor.name, "Secret");
        assert.equal(raw.value, props.secretEnv.API_KEY);
        const wire = deliver(props, "wire", INPUT_SECRETS) as { secretEnv: Record<string, Record<string, unknown>> };
        assert.equal(wire.secretEnv.API_KEY.value, props.secretEnv.API_KEY);
        for (const delivery of DELIVERIES) {
            assert.deepEqual(plain(deliver(props, delivery, INPUT_SECRETS)), JSON.parse(JSON.stringify(props)), delivery);
        }
    });
});

describe("no message contains a secret value", () => {
    for (const [policy, props] of resourceCases) {
        for (const delivery of DELIVERIES) {
            it(`${policy.name} (${delivery})`, async () => {
                const messages = await runResourcePolicy(policy, { props, delivery });
                assert.equal(messages.length, 1, `expected one violation, got ${JSON.stringify(messages)}`);
                const leaks = [CANARY, ...secretValuesOf(props)];
                for (const message of messages) {
                    for (const value of leaks) {
                        assert.ok(!message.includes(value), `${policy.name} leaks a value into: ${message}`);
                    }
                }
            });
        }
    }

    for (const delivery of DELIVERIES) {
        it(`env-equal-across-services (${delivery}, whole secretEnv secret as in stack outputs)`, async () => {
            const api = withEnv(validService(), "REALITY_API_SECRET", `${CANARY}-a`);
            const engine = withEnv(validWorker(), "REALITY_API_SECRET", `${CANARY}-b`);
            const violations = await runStackPolicy(envEqualAcrossServices, {
                resources: [
                    { name: "api-container", props: api },
                    { name: "reality-engine-container", props: engine },
                ],
                delivery,
            });
            assert.equal(violations.length, 1);
            assert.ok(!violations[0].message.includes(CANARY), violations[0].message);
            for (const value of [...secretValuesOf(api), ...secretValuesOf(engine)]) {
                assert.ok(!violations[0].message.includes(value));
            }
        });
    }
});
