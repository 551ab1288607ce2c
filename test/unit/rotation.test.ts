import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { accessSql, appLoginSlots, roleNames } from "../../components/databaseAccess";
import { scramVerifier } from "../../components/scram";
import { encryptionKeySlots } from "../../components/secrets";

describe("app login roles taking turns", () => {
    it("changes only the idle role's password key on each rotation and moves the services to it", () => {
        assert.deepEqual(appLoginSlots(0), { active: 0, keys: ["0", "-1"] });
        assert.deepEqual(appLoginSlots(1), { active: 1, keys: ["0", "1"] });
        assert.deepEqual(appLoginSlots(2), { active: 0, keys: ["2", "1"] });
        for (let n = 1; n < 6; n++) {
            const before = appLoginSlots(n - 1);
            const after = appLoginSlots(n);
            // The role the running services use keeps its password through the rotation.
            assert.equal(after.keys[before.active], before.keys[before.active], `rotation ${n} changed the role in use`);
            assert.notEqual(after.active, before.active);
        }
    });

    it("grants privileges to a group the two login roles inherit, and sets verifiers, not passwords", () => {
        const sql = accessSql("app", scramVerifier("app_migrator", "m-secret"), [scramVerifier("app_app_blue", "b-secret"), scramVerifier("app_app_green", "g-secret")]);
        const { logins } = roleNames("app");
        assert.match(sql, new RegExp(`GRANT "app_app" TO "${logins[0]}", "${logins[1]}"`));
        assert.match(sql, /ALTER ROLE "app_app" WITH NOLOGIN/);
        assert.match(sql, /GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "app_app"/);
        assert.doesNotMatch(sql, /m-secret|b-secret|g-secret/, "a password reached the SQL");
        assert.match(sql, /PASSWORD 'SCRAM-SHA-256\$4096:/);
    });
});

describe("SCRAM verifiers", () => {
    it("are stable for a password (a no-op deploy stays a no-op) and differ between roles", () => {
        assert.equal(scramVerifier("a", "pw"), scramVerifier("a", "pw"));
        assert.notEqual(scramVerifier("a", "pw"), scramVerifier("b", "pw"));
        assert.match(scramVerifier("a", "pw"), /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    });
});

describe("encryption key slots", () => {
    it("keeps the previous key available after a rotation and the first key under its original stamp", () => {
        assert.deepEqual(encryptionKeySlots(0), { active: 0, stamps: ["initial", "-1"] });
        assert.deepEqual(encryptionKeySlots(1), { active: 1, stamps: ["initial", "1"] });
        assert.deepEqual(encryptionKeySlots(2), { active: 0, stamps: ["2", "1"] });
        for (let n = 1; n < 6; n++) {
            const before = encryptionKeySlots(n - 1);
            const after = encryptionKeySlots(n);
            // What was the key becomes the previous key, unchanged.
            assert.equal(after.stamps[before.active], before.stamps[before.active]);
            assert.equal(1 - after.active, before.active);
        }
    });
});
