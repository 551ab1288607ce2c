// Progress on stderr as `[opsbook] <step> (<elapsed>)`, the format of scripts/lib/progress.sh, so
// stdout stays for data (`--json`) and a slow step shows where the time went.
export class Progress {
    private readonly started = Date.now();

    constructor(private readonly quiet = false) {}

    /** Seconds since the command started, one decimal. */
    elapsed(): string {
        return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
    }

    step(what: string): void {
        if (!this.quiet) {
            process.stderr.write(`[opsbook] ${what} (${this.elapsed()})\n`);
        }
    }

    /** Runs a long step between a start line and an end line that says how long it took. */
    async run<T>(what: string, work: () => Promise<T>): Promise<T> {
        const t0 = Date.now();
        this.step(`${what} ...`);
        try {
            const result = await work();
            this.step(`${what}: done in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
            return result;
        } catch (err) {
            this.step(`${what}: FAILED after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
            throw err;
        }
    }
}
