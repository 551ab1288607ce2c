// The stack config files this repository ships (Pulumi.staging.yaml, Pulumi.production.yaml) must
// deploy on any machine: the toolchain generates each machine's own passphrase, and a file that
// carries an `encryptionsalt:` (or a `secure:` value) belongs to the passphrase it was made with.
// One did (committed by mistake on 2026-12-02), and the README's first command, `npm run deploy`,
// then failed on every other machine with "incorrect passphrase". Read from git's index: what is
// committed, not a checkout where the stack was deployed and Pulumi wrote its own salt.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";

const root = path.resolve(__dirname, "..", "..");
const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" });

describe("the committed stack config files", () => {
    const files = git("ls-files", "Pulumi.*.yaml").split("\n").filter(Boolean);

    it("are the staging and production stacks", () => {
        assert.deepEqual(files.sort(), ["Pulumi.production.yaml", "Pulumi.staging.yaml"]);
    });

    for (const file of files) {
        it(`${file} is bound to no passphrase: no encryptionsalt, no secure value`, () => {
            const committed = git("show", `:${file}`);
            assert.doesNotMatch(committed, /^encryptionsalt:/m, `${file} carries an encryptionsalt; delete that line (the first deploy on each machine writes its own)`);
            assert.doesNotMatch(committed, /^\s*secure:/m, `${file} carries a secure value, which only its passphrase decrypts; set it per machine with 'pulumi config set --secret'`);
        });
    }
});
