// The `ssh` wrapper that every docker CLI call against an ssh:// engine runs (providers/engineCli.ts):
// run here against a stand-in `ssh` that plays an sshd refusing for load, so what is tried again,
// what is passed on at once, and what reaches stdin, stdout, stderr and the exit code are checked.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { dockerCliEnv, sshWrapperScript } from "../../providers/engineCli";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-sshwrapper-test-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * A stand-in ssh: its first `refusals` runs print `refusal` on stderr and exit 255 (as ssh does when
 * sshd refuses), the next echoes its stdin with its arguments on stdout, prints `warning` on stderr
 * and exits `exitCode`. Each run is counted in a file, so a test sees how many times ssh ran.
 */
function wrapperAround(name: string, refusals: number, refusal: string, exitCode = 0): { wrapper: string; runs: () => number } {
    const runsFile = path.join(dir, `${name}.runs`);
    const fakeSsh = path.join(dir, `${name}.ssh`);
    fs.writeFileSync(
        fakeSsh,
        `#!/bin/sh
echo run >>'${runsFile}'
if [ "$(wc -l <'${runsFile}')" -le ${refusals} ]; then printf '%s\\n' '${refusal}' >&2; exit 255; fi
echo "args: $*"; cat; echo warning >&2; exit ${exitCode}
`,
        { mode: 0o700 },
    );
    const wrapper = path.join(dir, `${name}.wrapper`);
    fs.writeFileSync(wrapper, sshWrapperScript(fakeSsh, ["-o", "BatchMode=yes"]), { mode: 0o700 });
    return { wrapper, runs: () => (fs.existsSync(runsFile) ? fs.readFileSync(runsFile, "utf8").split("\n").filter(Boolean).length : 0) };
}

function run(wrapper: string): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(wrapper, ["-T", "--", "203.0.113.7", "docker", "system", "dial-stdio"], { input: "GET /_ping\n", encoding: "utf8", timeout: 60_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the ssh wrapper of an ssh:// engine", () => {
    it("passes the stack's options and the caller's arguments, stdin, stdout, stderr and exit code through", () => {
        const { wrapper, runs } = wrapperAround("plain", 0, "", 3);
        const result = run(wrapper);
        assert.equal(result.status, 3);
        assert.equal(result.stdout, "args: -o BatchMode=yes -T -- 203.0.113.7 docker system dial-stdio\nGET /_ping\n");
        assert.equal(result.stderr, "warning\n");
        assert.equal(runs(), 1);
    });

    for (const [what, refusal] of [
        ["a connection dropped past MaxStartups", "kex_exchange_identification: read: Connection reset by peer"],
        ["a session refused past MaxSessions", "mux_client_request_session: session request failed: Session open refused by peer"],
    ]) {
        it(`tries ${what} again, then answers with the input the refused runs never read`, () => {
            const { wrapper, runs } = wrapperAround(what.replace(/\W+/g, "-"), 2, refusal);
            const result = run(wrapper);
            assert.equal(result.status, 0);
            assert.equal(result.stdout, "args: -o BatchMode=yes -T -- 203.0.113.7 docker system dial-stdio\nGET /_ping\n");
            assert.equal(result.stderr, "warning\n");
            assert.equal(runs(), 3);
        });
    }

    it("gives a refusal that lasts back after six tries, saying which sshd limits refuse", () => {
        const { wrapper, runs } = wrapperAround("lasting", 100, "kex_exchange_identification: Connection closed by remote host");
        const result = run(wrapper);
        assert.equal(result.status, 255);
        assert.equal(runs(), 6);
        assert.match(result.stderr, /^kex_exchange_identification: Connection closed by remote host\n/);
        assert.match(result.stderr, /refused this SSH connection or session 6 times \(sshd MaxStartups or MaxSessions\)/);
        assert.equal(result.stdout, "");
    });

    it("passes any other failure on at once: a refused key or an unknown host key is not tried again", () => {
        for (const failure of ["root@203.0.113.7: Permission denied (publickey).", "Host key verification failed."]) {
            const { wrapper, runs } = wrapperAround(failure.replace(/\W+/g, "-"), 100, failure);
            const result = run(wrapper);
            assert.equal(result.status, 255);
            assert.equal(result.stderr, `${failure}\n`);
            assert.equal(runs(), 1);
        }
    });
});

describe("where the ssh wrapper is written", () => {
    const engine = { host: "ssh://deploy@203.0.113.7", sshOptions: ["-o", "BatchMode=yes"] };

    function withCache<T>(cache: string, body: () => T): T {
        const before = process.env.OPSBOOK_CACHE;
        process.env.OPSBOOK_CACHE = cache;
        try {
            return body();
        } finally {
            if (before === undefined) delete process.env.OPSBOOK_CACHE;
            else process.env.OPSBOOK_CACHE = before;
        }
    }

    it("is this user's own directory (0700) under OPSBOOK_CACHE, first on the docker CLI's PATH, never /tmp", () => {
        const cache = path.join(dir, "cache-own");
        fs.mkdirSync(path.join(cache, "ssh"), { recursive: true, mode: 0o777 });
        fs.chmodSync(path.join(cache, "ssh"), 0o777);
        const env = withCache(cache, () => dockerCliEnv(engine));
        const first = (env.PATH ?? "").split(path.delimiter)[0];
        assert.equal(path.dirname(first), path.join(cache, "ssh"));
        assert.match(path.basename(first), /^wrapper-[0-9a-f]{16}$/);
        assert.equal(fs.statSync(path.join(cache, "ssh")).mode & 0o777, 0o700, "a directory others could write to is made private");
        assert.match(fs.readFileSync(path.join(first, "ssh"), "utf8"), /'-o' 'BatchMode=yes' "\$@"/);
        assert.equal(env.DOCKER_HOST, engine.host);
    });

    it("is refused, saying how to fix it, when another user owns it", () => {
        const cache = path.join(dir, "cache-other");
        fs.mkdirSync(path.join(cache, "ssh"), { recursive: true });
        fs.chownSync(path.join(cache, "ssh"), 65534, 65534);
        assert.throws(() => withCache(cache, () => dockerCliEnv(engine)), (err: Error) => {
            assert.match(err.message, /ssh is not a directory of this user's .*: remove it, or set OPSBOOK_CACHE to a directory of your own/);
            return true;
        });
        assert.deepEqual(fs.readdirSync(path.join(cache, "ssh")), [], "nothing written into it");
    });
});
