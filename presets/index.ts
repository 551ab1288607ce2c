// The five runbook systems as named presets. A stack picks one with `opsbook:preset` and may
// override any key; the merge is deep for maps and replaces lists and scalars.
import { copyTrading, copyTradingProcedures } from "./copy-trading";
import { energyTrading, energyTradingProcedures } from "./energy-trading";
import { marketWatchdog, marketWatchdogProcedures } from "./market-watchdog";
import { predictionMarket, predictionMarketProcedures } from "./prediction-market";
import { signalBot } from "./signal-bot";
import { PresetSpec, Procedures } from "./types";

export const PRESETS: Record<string, PresetSpec> = {
    "signal-bot": signalBot,
    "copy-trading": copyTrading,
    "prediction-market": predictionMarket,
    "market-watchdog": marketWatchdog,
    "energy-trading": energyTrading,
};

/** The runbook procedures each preset declares (`opsbook <procedure>`); presets without any are absent. */
export const PRESET_PROCEDURES: Readonly<Record<string, Procedures>> = {
    "copy-trading": copyTradingProcedures,
    "prediction-market": predictionMarketProcedures,
    "market-watchdog": marketWatchdogProcedures,
    "energy-trading": energyTradingProcedures,
};

function isMap(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Deep merge: maps merge key by key; anything else in `over` replaces what is in `base`. */
export function mergeSpec(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(over)) {
        if (value === undefined) {
            continue;
        }
        out[key] = isMap(out[key]) && isMap(value) ? mergeSpec(out[key] as Record<string, unknown>, value) : value;
    }
    return out;
}

/** The raw spec a stack means: its preset (if any) with the stack's own keys over it. */
export function applyPreset(raw: Record<string, unknown>): Record<string, unknown> {
    const name = raw.preset;
    if (name === undefined) {
        return raw;
    }
    const preset = typeof name === "string" ? PRESETS[name] : undefined;
    if (!preset) {
        return raw; // parseSpec reports the unknown name with the list of presets.
    }
    return mergeSpec(preset, raw);
}
