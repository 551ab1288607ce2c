import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backupsScheduled, envRequiredInProduction, imagesPinned, parseImageReference } from "../../policies/production";
import { BACKUP_SCHEDULE_TYPE, backupSchedule, validPostgres, validRedis, validService, withEnv } from "./fixtures";
import { CONTAINER, runResourcePolicy, runStackPolicy, urnOf } from "./harness";

describe("env-required-in-production", () => {
    it("accepts the valid service", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredInProduction, { props: validService() }), []);
    });

    it("names a missing production secret and how to set it", async () => {
        const messages = await runResourcePolicy(envRequiredInProduction, { props: withEnv(validService(), "EOD_CRON_SECRET", undefined) });
        assert.deepEqual(messages, [
            "container `api-container` (service `api`) needs `EOD_CRON_SECRET` in production, and it is not set; declare it in " +
                "`opsbook:services.api.secretEnv` (source `config`) and run 'pulumi config set --secret EOD_CRON_SECRET <value> --stack production', " +
                "or set it in `opsbook:services.api.env` if it is not a secret.",
        ]);
    });

    it("refuses an empty production secret", async () => {
        const messages = await runResourcePolicy(envRequiredInProduction, { props: withEnv(validService(), "EOD_CRON_SECRET", "") });
        assert.match(messages[0], /needs `EOD_CRON_SECRET` in production, and it is empty;/);
    });
});

describe("backups-scheduled", () => {
    const base = [
        { name: "postgres-server", props: validPostgres() },
        { name: "redis-server", props: validRedis() },
        { name: "api-container", props: validService() },
    ];

    it("accepts a stack with a database and a backup schedule", async () => {
        const resources = [...base, { name: "postgres-backup", type: BACKUP_SCHEDULE_TYPE, props: backupSchedule() }];
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources }), []);
    });

    it("accepts a BackupSchedule from any module (the type suffix is what counts)", async () => {
        const resources = [...base, { name: "b", type: "opsbook:index:BackupSchedule", props: {} }];
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources }), []);
    });

    it("names the database container when no backup is scheduled", async () => {
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources: base }), [
            {
                message:
                    "The stack runs container `postgres-server` (component `postgres`) with role `database` but schedules no backup; " +
                    "declare a backup schedule for it (a resource of type `...:BackupSchedule`) before deploying.",
                urn: urnOf(CONTAINER, "postgres-server"),
            },
        ]);
    });

    it("asks nothing of a stack without a database", async () => {
        assert.deepEqual(await runStackPolicy(backupsScheduled, { resources: base.slice(1) }), []);
    });

    it("covers more roles when the config says so", async () => {
        const violations = await runStackPolicy(backupsScheduled, { resources: base, config: { dataRoles: ["database", "cache"] } });
        assert.deepEqual(violations.map((v) => v.urn), [urnOf(CONTAINER, "postgres-server"), urnOf(CONTAINER, "redis-server")]);
    });
});

describe("images-pinned", () => {
    it("accepts a version tag, a non-latest tag and a digest", async () => {
        for (const imageName of ["opsbook/app:1.4.2", "opsbook/app:reference", `opsbook/app@sha256:${"0a".repeat(32)}`, `registry.local:5000/app:2@sha256:${"0a".repeat(32)}`]) {
            assert.deepEqual(await runResourcePolicy(imagesPinned, { props: validService({ imageName }) }), [], imageName);
        }
    });

    it("refuses `latest`, in any case", async () => {
        for (const imageName of ["opsbook/app:latest", "opsbook/app:LATEST"]) {
            const messages = await runResourcePolicy(imagesPinned, { props: validService({ imageName }) });
            assert.deepEqual(messages, [
                `container \`api-container\` (service \`api\`) has image \`${imageName}\`, whose tag is one of the floating tags \`latest\`; ` +
                    "set the image in `opsbook:images` or `opsbook:services.<name>.image` to name:<version> or name@sha256:<digest>.",
            ]);
        }
    });

    it("refuses a reference without a tag, and does not take a registry port for one", async () => {
        for (const imageName of ["opsbook/app", "registry.local:5000/opsbook/app"]) {
            const messages = await runResourcePolicy(imagesPinned, { props: validService({ imageName }) });
            assert.equal(messages.length, 1, imageName);
            assert.match(messages[0], /without a tag, which means `latest`/);
        }
    });

    it("refuses a digest that is not sha256", async () => {
        const messages = await runResourcePolicy(imagesPinned, { props: validService({ imageName: "opsbook/app@sha256:abc" }) });
        assert.match(messages[0], /whose digest is not a sha256 digest/);
    });

    it("takes floating tags and digest-only from config", async () => {
        const props = validService({ imageName: "opsbook/app:edge" });
        assert.equal((await runResourcePolicy(imagesPinned, { props, config: { forbiddenTags: ["latest", "edge"] } })).length, 1);
        const messages = await runResourcePolicy(imagesPinned, { props: validService(), config: { requireDigest: true } });
        assert.match(messages[0], /which is not pinned by digest \(required by this policy's config\)/);
    });

    it("parses references", () => {
        assert.deepEqual(parseImageReference("a/b:c"), { tag: "c", digest: undefined });
        assert.deepEqual(parseImageReference("host:1/b"), { tag: undefined, digest: undefined });
        assert.deepEqual(parseImageReference("b@sha256:x"), { tag: undefined, digest: "sha256:x" });
    });
});
