package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseRuntimeOptions(t *testing.T) {
	o := parseRuntimeOptions(nil)
	if !o.typescript || o.packagemanager != "npm" || o.nodeargs != nil || o.tsconfig != "" {
		t.Fatalf("defaults: %+v", o)
	}
	o = parseRuntimeOptions(map[string]any{
		"typescript": false, "nodeargs": " --import  tsx/esm ", "tsconfig": "tsconfig.pulumi.json",
		"packagemanager": "pnpm",
	})
	want := runtimeOptions{false, "tsconfig.pulumi.json", []string{"--import", "tsx/esm"}, "pnpm"}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("got %+v, want %+v", o, want)
	}
	if parseRuntimeOptions(map[string]any{"typescript": "false"}).typescript {
		t.Fatal("string \"false\" should disable typescript")
	}
}

func TestRunArgs(t *testing.T) {
	o := runtimeOptions{typescript: true, nodeargs: []string{"--max-old-space-size=4096"}}
	got := runArgs(o, runParams{
		script: "/p/node_modules/@pulumi/pulumi/cmd/run", monitor: "127.0.0.1:1", engine: "127.0.0.1:2",
		project: "proj", stack: "dev", organization: "org", pwd: "/p", rootDirectory: "/p",
		program: ".", dryRun: true, parallel: 16, programArgs: []string{"x"},
	})
	want := []string{
		"--max-old-space-size=4096", "/p/node_modules/@pulumi/pulumi/cmd/run", "--monitor=127.0.0.1:1",
		"--engine=127.0.0.1:2", "--project=proj", "--stack=dev", "--organization=org", "--pwd=/p",
		"--root-directory=/p", "--dry-run", "--parallel=16", ".", "x",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// Unset optional values are left out rather than passed empty.
	got = runArgs(runtimeOptions{}, runParams{script: "run", monitor: "m", program: "."})
	if !reflect.DeepEqual(got, []string{"run", "--monitor=m", "."}) {
		t.Fatalf("minimal: %q", got)
	}
}

func TestProgramPath(t *testing.T) {
	cases := []struct{ pwd, dir, entry, want string }{
		{"/p", "/p", ".", "."},
		{"/p", "/p/", "", "."},
		{"/p", "/p/src", ".", "/p/src"},
		{"/p", "/p", "main.ts", "/p/main.ts"},
	}
	for _, c := range cases {
		if got := programPath(c.pwd, c.dir, c.entry); got != c.want {
			t.Errorf("programPath(%q,%q,%q) = %q, want %q", c.pwd, c.dir, c.entry, got, c.want)
		}
	}
}

func TestRunEnv(t *testing.T) {
	env, err := runEnv([]string{"PATH=/bin", "PULUMI_NODEJS_TYPESCRIPT=true"},
		runtimeOptions{typescript: false, tsconfig: "tsconfig.pulumi.json"}, "/root",
		map[string]string{"proj:name": "x", "proj:token": "s3cr3t"}, []string{"proj:token"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PATH=/bin", "PULUMI_NODEJS_TYPESCRIPT=true",
		`PULUMI_CONFIG={"proj:name":"x","proj:token":"s3cr3t"}`,
		`PULUMI_CONFIG_SECRET_KEYS=["proj:token"]`,
		"PULUMI_NODEJS_TYPESCRIPT=false", // later entry wins in exec.Cmd
		"PULUMI_NODEJS_TSCONFIG_PATH=/root/tsconfig.pulumi.json",
	}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("got  %q\nwant %q", env, want)
	}
	// No config still yields valid JSON for the SDK to parse.
	env, _ = runEnv(nil, runtimeOptions{typescript: true}, "/r", nil, nil)
	if strings.Join(env, " ") != "PULUMI_CONFIG={} PULUMI_CONFIG_SECRET_KEYS=[] PULUMI_NODEJS_TYPESCRIPT=true" {
		t.Fatalf("empty: %q", env)
	}
}

func TestPluginArgs(t *testing.T) {
	engineArgs := []string{"--logtostderr", "-v=9", "--tracing", "http://t", "127.0.0.1:5"}
	got := pluginArgs(runtimeOptions{}, "/pp/run-policy-pack", "analyzer", "/pp", engineArgs)
	if want := []string{"/pp/run-policy-pack", "127.0.0.1:5", "/pp"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("analyzer: %q", got)
	}
	got = pluginArgs(runtimeOptions{nodeargs: []string{"--trace-warnings"}}, "/pl/run-plugin", "resource",
		"/pl", []string{"--tracing=x", "127.0.0.1:5"})
	if want := []string{"--trace-warnings", "/pl/run-plugin", "/pl", "127.0.0.1:5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resource: %q", got)
	}
	if pluginScript("analyzer") != "run-policy-pack" || pluginScript("tool") != "run-plugin" {
		t.Fatal("pluginScript")
	}
}

func TestExitResult(t *testing.T) {
	if msg, bail := exitResult(0); msg != "" || bail {
		t.Fatal("0 must be success")
	}
	if msg, bail := exitResult(errorAlreadyReported); msg != "" || !bail {
		t.Fatal("32 must bail silently")
	}
	if msg, bail := exitResult(1); bail || !strings.Contains(msg, "exit code: 1") {
		t.Fatalf("1: %q %v", msg, bail)
	}
}

func TestFindSDKScript(t *testing.T) {
	root := t.TempDir()
	run := filepath.Join(root, "node_modules", "@pulumi", "pulumi", "cmd", "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findSDKScript(nested, "run"); err != nil || got != run {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := findSDKScript(nested, "run-policy-pack"); err == nil ||
		!strings.Contains(err.Error(), "npm install") {
		t.Fatalf("missing script should explain: %v", err)
	}
}

func TestPackageDeps(t *testing.T) {
	deps, err := packageDeps([]byte(`{"dependencies":{"b":"^1","a":"2"},"devDependencies":{"c":"3","a":"0"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"a", "2"}, {"b", "^1"}, {"c", "3"}}
	if !reflect.DeepEqual(deps, want) {
		t.Fatalf("got %v", deps)
	}
	if jsonVersion([]byte(`{"version":"3.259.0"}`)) != "3.259.0" || jsonVersion([]byte(`nope`)) != "" {
		t.Fatal("jsonVersion")
	}
}
