package main

// Pure helpers: turning requests into node command lines and environments. They are kept free of I/O
// (apart from findSDKScript) so they can be unit tested without a running engine.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// errorAlreadyReported is the exit code @pulumi/pulumi/cmd/run (and run-policy-pack, run-plugin) use to
// say "the error has been logged to the user already"; the engine must then bail without adding its own
// message (see nodeJSProcessExitedAfterLoggingUserActionableMessage in cmd/run/index.js).
const errorAlreadyReported = 32

// runtimeOptions are the Pulumi.yaml `runtime.options` this host understands.
type runtimeOptions struct {
	typescript     bool     // load ts-node before the program (default true)
	tsconfig       string   // path to a tsconfig file, relative to Pulumi.yaml
	nodeargs       []string // extra arguments for node itself, e.g. --import tsx/esm
	packagemanager string   // npm (default), yarn, pnpm or bun; only used to install dependencies
}

// parseRuntimeOptions reads the options map the engine forwards in ProgramInfo. Values may arrive as
// YAML booleans or strings, so both are accepted.
func parseRuntimeOptions(opts map[string]any) runtimeOptions {
	o := runtimeOptions{typescript: true, packagemanager: "npm"}
	if v, ok := opts["typescript"]; ok {
		switch t := v.(type) {
		case bool:
			o.typescript = t
		case string:
			if b, err := strconv.ParseBool(t); err == nil {
				o.typescript = b
			}
		}
	}
	if v, ok := opts["tsconfig"].(string); ok {
		o.tsconfig = v
	}
	if v, ok := opts["nodeargs"].(string); ok {
		o.nodeargs = strings.Fields(v)
	}
	if v, ok := opts["packagemanager"].(string); ok && v != "" {
		o.packagemanager = v
	}
	return o
}

// runParams is everything needed to build the `node .../cmd/run` command line for a Run request.
type runParams struct {
	script        string // absolute path of @pulumi/pulumi/cmd/run
	monitor       string
	engine        string
	project       string
	stack         string
	organization  string
	pwd           string
	rootDirectory string
	program       string // "." (let the SDK consult package.json) or a path
	dryRun        bool
	parallel      int32
	tracing       string
	programArgs   []string
}

// runArgs builds node's argument list. Flags use --key=value so that minimist in the run script never
// mistakes a value for the program path.
func runArgs(o runtimeOptions, p runParams) []string {
	args := append([]string{}, o.nodeargs...)
	args = append(args, p.script, "--monitor="+p.monitor)
	add := func(flag, v string) {
		if v != "" {
			args = append(args, "--"+flag+"="+v)
		}
	}
	add("engine", p.engine)
	add("project", p.project)
	add("stack", p.stack)
	add("organization", p.organization)
	add("pwd", p.pwd)
	add("root-directory", p.rootDirectory)
	add("tracing", p.tracing)
	if p.dryRun {
		args = append(args, "--dry-run")
	}
	if p.parallel > 0 {
		args = append(args, "--parallel="+strconv.Itoa(int(p.parallel)))
	}
	args = append(args, p.program)
	return append(args, p.programArgs...)
}

// programPath picks the program argument for the run script. "." is only meaningful relative to the
// working directory, and only "." makes the SDK honour package.json `main`/`exports`, so keep it when
// the program directory is the working directory and use an absolute path otherwise.
func programPath(pwd, programDir, entryPoint string) string {
	if entryPoint == "" {
		entryPoint = "."
	}
	if entryPoint == "." && filepath.Clean(pwd) == filepath.Clean(programDir) {
		return "."
	}
	return filepath.Join(programDir, entryPoint)
}

// runEnv returns the variables the Node SDK reads instead of flags: config (a JSON object keyed by
// "project:key"), the secret config keys (a JSON array) and the TypeScript switches. They are appended
// to base; exec.Cmd keeps the last duplicate, so they override anything inherited.
func runEnv(base []string, o runtimeOptions, rootDir string, config map[string]string,
	secretKeys []string,
) ([]string, error) {
	env := append([]string{}, base...)
	if config == nil {
		config = map[string]string{}
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env = append(env, "PULUMI_CONFIG="+string(cfg), "PULUMI_CONFIG_SECRET_KEYS="+string(keys),
		"PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(o.typescript))
	if o.tsconfig != "" {
		ts := o.tsconfig
		if !filepath.IsAbs(ts) {
			ts = filepath.Join(rootDir, ts)
		}
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+ts)
	}
	return env, nil
}

// pluginArgs builds node's argument list for RunPlugin. The engine passes its own flags
// (--logtostderr, -v=N, --tracing URL) before the positional engine address; the SDK's plugin scripts
// parse with plain minimist, where `--logtostderr 127.0.0.1:123` would swallow the address, so only the
// positional arguments are forwarded.
//   - analyzers (policy packs): run-policy-pack <engine-address> <policy-pack-dir>
//   - anything else:            run-plugin <plugin-dir> <args...>
func pluginArgs(o runtimeOptions, script, kind, programDir string, engineArgs []string) []string {
	args := append([]string{}, o.nodeargs...)
	args = append(args, script)
	positional := positionalArgs(engineArgs)
	if kind == "analyzer" {
		args = append(args, positional...)
		return append(args, programDir)
	}
	args = append(args, programDir)
	return append(args, positional...)
}

// positionalArgs drops the logging/tracing flags the engine prepends to every plugin's arguments.
func positionalArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--tracing" || a == "-tracing":
			i++ // skip its value too
		case strings.HasPrefix(a, "-"):
			// --logtostderr, -v=9, --tracing=url: flags for the plugin host, not the plugin program.
		default:
			out = append(out, a)
		}
	}
	return out
}

// pluginScript names the SDK entry script for a plugin kind.
func pluginScript(kind string) string {
	if kind == "analyzer" {
		return "run-policy-pack"
	}
	return "run-plugin"
}

// findSDKScript looks for node_modules/@pulumi/pulumi/cmd/<name> from dir upwards, as node's own module
// resolution would (workspaces hoist node_modules to a parent directory).
func findSDKScript(dir, name string) (string, error) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		p := filepath.Join(d, "node_modules", "@pulumi", "pulumi", "cmd", name)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("could not find @pulumi/pulumi/cmd/%s from %s; "+
				"it looks like the Pulumi SDK has not been installed, have you run `npm install`?", name, dir)
		}
	}
}

// exitResult maps the program's exit code to RunResponse fields.
func exitResult(code int) (errMsg string, bail bool) {
	switch code {
	case 0:
		return "", false
	case errorAlreadyReported:
		return "", true
	default:
		return fmt.Sprintf("Program exited with non-zero exit code: %d", code), false
	}
}

// packageDeps lists the dependencies and devDependencies declared in a package.json, sorted by name.
func packageDeps(packageJSON []byte) ([][2]string, error) {
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(packageJSON, &pkg); err != nil {
		return nil, err
	}
	all := map[string]string{}
	for k, v := range pkg.DevDependencies {
		all[k] = v
	}
	for k, v := range pkg.Dependencies {
		all[k] = v
	}
	out := make([][2]string, 0, len(all))
	for k, v := range all {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}

// jsonVersion returns the "version" field of an installed package's package.json ("" if absent).
func jsonVersion(packageJSON []byte) string {
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(packageJSON, &pkg) != nil {
		return ""
	}
	return pkg.Version
}
