// Values that stand in for a real one: copied from a runbook's example .env, left by a template,
// or typed to get past a prompt. Each family has an id (named in violation messages instead of the
// value), a description for the README, and whether it applies to every value or only to secrets
// (some words, like `password` or `none`, are fine as plain settings but never as a secret).
//
// The runbooks in /work/shared/seeds supply the examples each family is tested against.

/** Which values a family applies to. */
export type PlaceholderScope = "all" | "secret";

export interface PlaceholderFamily {
    /** Stable id, named in violation messages (never the value). */
    readonly id: string;
    /** What the family catches, in a sentence, for the README. */
    readonly description: string;
    readonly scope: PlaceholderScope;
    /** Examples the tests prove the family catches (from the runbooks where they have one). */
    readonly examples: readonly string[];
    readonly matches: (value: string) => boolean;
}

/** Whole values (compared trimmed and case-insensitively) that are never real. */
export const KNOWN_PLACEHOLDER_VALUES: readonly string[] = [
    // The runbooks' own examples.
    "your-super-secret-key-change-in-production",
    "new-secret-key",
    "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
    // Template and to-do words.
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "replace-me",
    "replace_me",
    "replaceme",
    "todo",
    "tbd",
    "fixme",
    "placeholder",
    "dummy",
    "example",
    "sample",
    "undefined",
    "null",
    "nil",
];

/** Whole values that are acceptable settings but never a secret. */
export const WEAK_SECRET_VALUES: readonly string[] = [
    "secret",
    "password",
    "passw0rd",
    "admin",
    "default",
    "none",
    "test",
    "token",
    "apikey",
    "api-key",
    "api_key",
    "key",
    "123456",
    "12345678",
    "qwerty",
    "abc123",
    "letmein",
    "true",
    "false",
];

const known = new Set(KNOWN_PLACEHOLDER_VALUES.map((v) => v.toLowerCase()));
const weak = new Set(WEAK_SECRET_VALUES.map((v) => v.toLowerCase()));

export const PLACEHOLDER_FAMILIES: readonly PlaceholderFamily[] = [
    {
        id: "known-placeholder",
        description: "A value from the curated list: the runbooks' example values and to-do words such as `changeme`, `replace-me`, `todo`.",
        scope: "all",
        examples: ["your-super-secret-key-change-in-production", "new-secret-key", "changeme", "Replace-Me", "todo", "undefined"],
        matches: (v) => known.has(v.trim().toLowerCase()),
    },
    {
        id: "truncated-example",
        description: "An example cut short with `...` or `…`, as in `sk-...`, `PK...` or `123456:ABC-DEF...`.",
        scope: "all",
        examples: ["sk-...", "PK...", "123456:ABC-DEF...", "...", "ghp_…"],
        matches: (v) => /(\.\.\.|…)\s*$/.test(v),
    },
    {
        id: "template-marker",
        description: "An unfilled template: `<new-secret>`, `${VAR}`, `{{ var }}`, or a bare `$VAR` that no shell expanded.",
        scope: "all",
        examples: ["<new-secret>", "<new-key>", "<temporary-random-key>", "${JWT_SECRET}", "{{ admin_key }}", "$ADMIN_TOKEN"],
        matches: (v) =>
            /^\s*<[^<>]+>\s*$/.test(v) || /\$\{[^}]*\}/.test(v) || /\{\{[^}]*\}\}/.test(v) || /^\s*\$[A-Za-z_][A-Za-z0-9_]*\s*$/.test(v),
    },
    {
        id: "fill-in-here",
        description: "Words that ask for a value instead of giving one: `TX_ID_HERE`, `YOUR_API_KEY`, `https://your-domain/...`, `insert-key`.",
        scope: "all",
        examples: ["TX_ID_HERE", "YOUR_API_KEY", "https://your-domain/webhook/telegram", "https://your-backend.railway.app", "insert-token", "paste here"],
        matches: (v) =>
            /(^|[\s_-])here\s*$/i.test(v) ||
            /^\s*(insert|enter|put|paste)[-_ ]/i.test(v) ||
            /(^|[^a-z0-9])your[-_ .]/i.test(v),
    },
    {
        id: "change-me-phrase",
        description: "A phrase telling the reader to change the value: `change-me-please`, `...-change-in-production`, `replace_this`.",
        scope: "all",
        examples: ["please-change-me-123", "jwt-change-in-production", "replace_this_value"],
        matches: (v) => /change[-_ .]?(me|it|this)([^a-z]|$)/i.test(v) || /change[-_ .]?in[-_ .]?prod/i.test(v) || /replace[-_ .]?(me|this)([^a-z]|$)/i.test(v),
    },
    {
        id: "filler",
        description: "Only dots, x's, asterisks or bullets: `...`, `xxxx`, `XXXXXXXX`, `****`.",
        scope: "all",
        examples: ["xxxx", "XXXXXXXXXXXX", "****", "x.x.x", "•••"],
        matches: (v) => /^\s*[.xX*•]+\s*$/.test(v),
    },
    {
        id: "example-domain",
        description: "A URL or address on the documentation domains `example.com`, `example.org` or `example.net`.",
        scope: "all",
        examples: ["https://example.com/webhook", "postgres://u:p@db.example.org/app"],
        matches: (v) => /(^|[^a-z0-9-])example\.(com|org|net)([^a-z0-9-]|$)/i.test(v),
    },
    {
        id: "empty-secret",
        description: "A secret that is empty or only whitespace.",
        scope: "secret",
        examples: ["", "   "],
        matches: (v) => v.trim() === "",
    },
    {
        id: "weak-secret",
        description: "A secret that is a common default (`secret`, `password`, `admin`, `123456`, ...) or one character repeated.",
        scope: "secret",
        examples: ["secret", "Password", "admin", "123456", "aaaaaaaa", "0000"],
        matches: (v) => weak.has(v.trim().toLowerCase()) || /^(.)\1+$/.test(v.trim()),
    },
    {
        id: "key-prefix-only",
        description: "A provider's key prefix with nothing after it, e.g. `sk-`, `pk_live_`, `PK`.",
        scope: "secret",
        examples: ["sk-", "pk_live_", "PK", "xoxb-"],
        matches: (v) => /^\s*((sk|pk|rk)([-_](live|test))?[-_]?|xox[abp]-|ghp_|AKIA)\s*$/i.test(v),
    },
];

/** Extra placeholders from the policy config: exact values and regular expressions. */
export interface ExtraPlaceholders {
    /** Whole values (trimmed, case-insensitive). */
    readonly values: readonly string[];
    /** Regular expression sources, tested case-insensitively against the value. */
    readonly patterns: readonly string[];
}

/** The id the config's own entries are reported under. */
export const CONFIGURED_FAMILY = "configured";

const compiled = new Map<string, RegExp>();

/** Compiles a configured pattern once; a bad pattern is a config error, named by its index. */
function compile(pattern: string, index: number): RegExp {
    let re = compiled.get(pattern);
    if (!re) {
        try {
            re = new RegExp(pattern, "i");
        } catch {
            throw new Error(
                `policy config \`env-no-placeholder-values.extraPatterns[${index}]\` is not a valid regular expression; fix it in the policy config file.`,
            );
        }
        compiled.set(pattern, re);
    }
    return re;
}

/**
 * The id of the first family a value belongs to, or undefined for a value that looks real.
 * `secret` says whether the value is a secret (secret-only families apply then too).
 */
export function placeholderFamily(value: string, secret: boolean, extra?: ExtraPlaceholders): string | undefined {
    for (const family of PLACEHOLDER_FAMILIES) {
        if ((family.scope === "all" || secret) && family.matches(value)) {
            return family.id;
        }
    }
    if (extra) {
        const normalized = value.trim().toLowerCase();
        if (extra.values.some((v) => v.trim().toLowerCase() === normalized)) {
            return CONFIGURED_FAMILY;
        }
        for (let i = 0; i < extra.patterns.length; i++) {
            if (compile(extra.patterns[i], i).test(value)) {
                return CONFIGURED_FAMILY;
            }
        }
    }
    return undefined;
}
