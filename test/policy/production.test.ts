import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LABEL_ALERT_RECEIVERS, LABEL_MONITORING_PART } from "../../components/naming";
import type { ReceiverSecretState } from "../../components/monitoring/settings";
import { backupsScheduled, dataNetworkEncrypted, envRequiredInProduction, imagesPinned, monitoringWithReceiver, parseImageReference, unpinnedReason } from "../../policies/production";
import { NAMES, PINNED_APP, apiSpec, changed, serviceProps, validGateway, validMigration, validPostgres, validService, validStack, withEnv } from "./fixtures";
import { CONTAINER, ONE_SHOT, SERVICE, UNKNOWN_STRING, runResourcePolicy, runStackPolicy, urnOf } from "./harness";

const IMAGE_ID = `sha256:${"ab".repeat(32)}`;
const withImage = (reference: string) => validService({ image: { reference, id: IMAGE_ID } });

describe("env-required-in-production", () => {
    it("accepts the valid service", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredInProduction, { props: validService() }), []);
    });

    it("names a missing production secret and how to set it", async () => {
        const messages = await runResourcePolicy(envRequiredInProduction, { props: serviceProps(withEnv(apiSpec(), "EOD_CRON_SECRET", "absent")) });
        assert.deepEqual(messages, [
            "swarm service `api-service` (service `api`) needs `EOD_CRON_SECRET` in production, which is not set (neither plain env `EOD_CRON_SECRET` nor a secret file " +
                "`EOD_CRON_SECRET_FILE` bound in its `opsbook.secrets` label); declare it in `opsbook:services.api.secretEnv` (source `config`) and run " +
                "'pulumi config set --secret EOD_CRON_SECRET <value> --stack production', or set it in `opsbook:services.api.env` if it is not a secret.",
        ]);
    });

    it("refuses an empty plain production value", async () => {
        const messages = await runResourcePolicy(envRequiredInProduction, { props: serviceProps(withEnv(apiSpec(), "EOD_CRON_SECRET", { plain: "" })) });
        assert.match(messages[0], /needs `EOD_CRON_SECRET` in production, and its plain env `EOD_CRON_SECRET` is empty;/);
    });
});

describe("backups-scheduled", () => {
    it("accepts a stack with a database and a backup schedule", async () => {
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources: validStack() }), []);
    });

    it("accepts a BackupSchedule from any module (the type suffix is what counts)", async () => {
        const resources = validStack({ omit: [NAMES.schedule], extra: [{ name: "b", type: "opsbook:index:BackupSchedule", props: {} }] });
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources }), []);
    });

    it("names the database service when no backup is scheduled", async () => {
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources: validStack({ omit: [NAMES.schedule] }) }), [
            {
                message:
                    "The stack runs swarm service `postgres-server` (component `database`) but schedules no backup; " +
                    "keep `opsbook:backups.enabled` on (the Backups component registers a `...:BackupSchedule` with its agent) before deploying.",
                urn: urnOf(SERVICE, NAMES.postgres),
            },
        ]);
    });

    it("asks nothing of a stack without a database", async () => {
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources: validStack({ omit: [NAMES.schedule, NAMES.postgres] }) }), []);
    });

    it("covers more components when the config says so", async () => {
        const violations = await runStackPolicy(backupsScheduled, { resources: validStack({ omit: [NAMES.schedule] }), config: { dataComponents: ["database", "cache"] } });
        assert.deepEqual(violations.map((v) => v.urn), [urnOf(SERVICE, NAMES.postgres), urnOf(SERVICE, NAMES.redis)]);
    });
});

describe("images-pinned", () => {
    it("accepts content-addressed tags (the toolchain's) and digests", async () => {
        for (const reference of [
            PINNED_APP,
            "opsbook/postgres:15-7c1e9a2b4d6f",
            "registry.local:5000/team/api:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            `opsbook/app@sha256:${"0a".repeat(32)}`,
            `registry.local:5000/app:2@sha256:${"0a".repeat(32)}`,
        ]) {
            assert.deepEqual(await runResourcePolicy(imagesPinned, { props: withImage(reference) }), [], reference);
        }
        assert.deepEqual(await runResourcePolicy(imagesPinned, { props: validGateway(), type: CONTAINER, name: NAMES.gateway }), []);
        assert.deepEqual(await runResourcePolicy(imagesPinned, { props: validMigration(), type: ONE_SHOT, name: NAMES.migration }), []);
    });

    it("refuses the mutable tag `opsbook/app:reference` (the defect: it used to count as pinned)", async () => {
        const messages = await runResourcePolicy(imagesPinned, { props: withImage("opsbook/app:reference") });
        assert.deepEqual(messages, [
            "swarm service `api-service` (service `api`) runs image `opsbook/app:reference`, which has the tag `reference`, which is not content-addressed and can be moved " +
                "to another image (as the toolchain moves `:reference`, `:15` and `:7` on every build); set `opsbook:services.api.image` (or `opsbook:images.app`) " +
                "to name@sha256:<digest> or to a content-addressed tag such as the ones 'eval \"$(npm run -s toolchain)\"' exports (OPSBOOK_IMAGE_APP=opsbook/app:<12 hex>).",
        ]);
    });

    it("refuses `latest`, version tags, short hashes and no tag at all", async () => {
        for (const reference of ["opsbook/app:latest", "opsbook/postgres:15", "opsbook/app:1.4.2", "opsbook/app:3f9c2a7", "opsbook/app:REFERENCE-3F9C2A7B1D4E"]) {
            const messages = await runResourcePolicy(imagesPinned, { props: withImage(reference) });
            assert.equal(messages.length, 1, reference);
            assert.match(messages[0], /which is not content-addressed/, reference);
        }
        for (const reference of ["opsbook/app", "registry.local:5000/opsbook/app"]) {
            const messages = await runResourcePolicy(imagesPinned, { props: withImage(reference) });
            assert.equal(messages.length, 1, reference);
            assert.match(messages[0], /has no tag, which means `latest`/);
        }
    });

    it("names the config key of each component's image", async () => {
        const postgres = validPostgres({ image: { reference: "opsbook/postgres:15", id: IMAGE_ID } });
        assert.match((await runResourcePolicy(imagesPinned, { props: postgres, name: NAMES.postgres }))[0], /set `opsbook:images.postgres` to/);
        const gateway = changed(validGateway(), (p) => (p.labels!.find((l) => l!.label === "opsbook.image-ref")!.value = "opsbook/gateway:1"));
        assert.match((await runResourcePolicy(imagesPinned, { props: gateway, type: CONTAINER, name: NAMES.gateway }))[0], /^container `gateway-nginx` \(component `gateway`\) runs image `opsbook\/gateway:1`.*set `opsbook:images.gateway` to/);
        const job = validMigration({ imageName: "opsbook/app:reference" });
        assert.match((await runResourcePolicy(imagesPinned, { props: job, type: ONE_SHOT, name: NAMES.migration }))[0], /set `opsbook:migrations.image` \(or `opsbook:images.app`\) to/);
    });

    it("refuses a digest that is not sha256", async () => {
        const messages = await runResourcePolicy(imagesPinned, { props: withImage("opsbook/app@sha256:abc") });
        assert.match(messages[0], /which has a digest that is not a sha256 digest/);
    });

    it("takes digest-only and immutable tag patterns from config", async () => {
        const messages = await runResourcePolicy(imagesPinned, { props: validService(), config: { requireDigest: true } });
        assert.match(messages[0], /which is not pinned by digest \(required by this policy's config\)/);
        const semver = withImage("team/api:v1.4.2");
        assert.equal((await runResourcePolicy(imagesPinned, { props: semver })).length, 1);
        assert.deepEqual(await runResourcePolicy(imagesPinned, { props: semver, config: { immutableTagPatterns: ["v[0-9]+[.][0-9]+[.][0-9]+"] } }), []);
    });

    it("falls back to the image ID the task runs when the label is missing, and skips an unknown one", async () => {
        const unlabelled = changed(validService(), (p) => (p.labels = p.labels!.filter((l) => l!.label !== "opsbook.image-ref")));
        assert.deepEqual(await runResourcePolicy(imagesPinned, { props: unlabelled }), []);
        const unknown = changed(unlabelled, (p) => (p.taskSpec!.containerSpec!.image = UNKNOWN_STRING));
        assert.deepEqual(await runResourcePolicy(imagesPinned, { props: unknown }), []);
    });

    it("parses references", () => {
        assert.deepEqual(parseImageReference("a/b:c"), { tag: "c", digest: undefined });
        assert.deepEqual(parseImageReference("host:1/b"), { tag: undefined, digest: undefined });
        assert.deepEqual(parseImageReference("b@sha256:x"), { tag: undefined, digest: "sha256:x" });
        assert.equal(unpinnedReason(IMAGE_ID), undefined);
    });
});

describe("monitoring-with-receiver", () => {
    /** The stack's Alertmanager service as the monitoring component labels it, with this receiver state. */
    const alertmanager = (state: ReceiverSecretState) => ({
        name: "monitoring-alertmanager",
        type: SERVICE,
        props: serviceProps({
            ...apiSpec(),
            engineName: "opsbook-production-monitoring-alertmanager",
            component: "monitoring",
            specName: undefined,
            extraLabels: { [LABEL_MONITORING_PART]: "alertmanager", [LABEL_ALERT_RECEIVERS]: JSON.stringify(state) },
        }),
    });
    const telegramSet = { telegram: { ALERT_TELEGRAM_BOT_TOKEN: "set", ALERT_TELEGRAM_CHAT_ID: "set" } } as const;

    it("accepts a stack whose Alertmanager has a receiver with its secrets set", async () => {
        assert.deepEqual(await runStackPolicy(monitoringWithReceiver, { resources: validStack({ extra: [alertmanager(telegramSet)] }) }), []);
    });

    it("refuses a stack without monitoring, saying how to turn it on", async () => {
        const violations = await runStackPolicy(monitoringWithReceiver, { resources: validStack() });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /The stack runs no Alertmanager, so nobody hears of an outage; keep `opsbook:monitoring.enabled` on/);
    });

    it("refuses monitoring without a receiver", async () => {
        const violations = await runStackPolicy(monitoringWithReceiver, { resources: validStack({ extra: [alertmanager({})] }) });
        assert.deepEqual(violations.map((v) => v.urn), [urnOf(SERVICE, "monitoring-alertmanager")]);
        assert.match(violations[0].message, /`opsbook:monitoring.receivers` names no receiver, so no alert would reach anyone/);
    });

    it("refuses a receiver whose secret is missing, naming the receiver's key and the secret's config key", async () => {
        const state = { telegram: { ALERT_TELEGRAM_BOT_TOKEN: "set", ALERT_TELEGRAM_CHAT_ID: "missing" } } as const;
        const violations = await runStackPolicy(monitoringWithReceiver, { resources: validStack({ extra: [alertmanager(state)] }) });
        assert.deepEqual(
            violations.map((v) => v.message),
            [
                "swarm service `monitoring-alertmanager` (component `monitoring`): `opsbook:monitoring.receivers.telegram` needs the secret `ALERT_TELEGRAM_CHAT_ID`, which is not set; " +
                    "run `pulumi config set --secret ALERT_TELEGRAM_CHAT_ID` and paste the value at the prompt, or remove the receiver.",
            ],
        );
    });
});

describe("data-network-encrypted", () => {
    const NETWORK = "docker:index/network:Network";
    const network = (props: Record<string, unknown>) => runResourcePolicy(dataNetworkEncrypted, { type: NETWORK, name: "network-data", props: { name: "opsbook-production-data", driver: "overlay", ...props } });

    it("accepts the encrypted data network, and the attachable edge network without encryption", async () => {
        assert.deepEqual(await network({ attachable: false, options: { encrypted: "true" } }), []);
        assert.deepEqual(await network({ attachable: true, options: {} }), []);
    });

    it("refuses a data network without encryption, naming the config key that sets it", async () => {
        const messages = await network({ attachable: false, options: {} });
        assert.equal(messages.length, 1);
        assert.match(messages[0], /^network `opsbook-production-data` carries the stack's database and cache traffic between nodes unencrypted; set `opsbook:engine\.encryptDataNetwork` to true/);
    });
});
