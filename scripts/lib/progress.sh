# Progress lines on stderr: `[tool] step (elapsed)`; a failing step names itself and its command.
# Sourced by the project's scripts.

progress_init() {
    PROGRESS_TOOL="$1"
    PROGRESS_START=$SECONDS
}

_elapsed() {
    echo "$((SECONDS - PROGRESS_START))s"
}

step_done() {
    echo "[$PROGRESS_TOOL] $1 ($(_elapsed))" >&2
}

# run_step NAME COMMAND...: runs the command with its output on stderr; on failure names the step.
run_step() {
    local name="$1"
    shift
    local started=$SECONDS
    echo "[$PROGRESS_TOOL] $name ..." >&2
    if ! "$@" >&2; then
        echo "[$PROGRESS_TOOL] FAILED: $name ($(_elapsed)); command: $*" >&2
        exit 1
    fi
    echo "[$PROGRESS_TOOL] $name: done in $((SECONDS - started))s ($(_elapsed))" >&2
}

progress_total() {
    echo "[$PROGRESS_TOOL] ready ($(_elapsed))" >&2
}
