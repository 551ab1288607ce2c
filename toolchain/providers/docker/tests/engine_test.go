package tests

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

// The stack deploys onto a swarm through this plugin, so the test drives the swarm objects it
// uses (overlay network, volume, secret, a dnsrr service with the secret as a file and a
// start-first update) through the plugin exactly as the engine would: Check, Create, Read, Diff,
// Update, Delete. After each step the Docker engine itself is asked whether the object exists,
// changed or is gone. Every object is named with a per-run prefix and removed at the end, failure
// or not; nothing without the prefix is touched.

const tokenPrefix = "docker:index/"

type harness struct {
	t      *testing.T
	client pulumirpc.ResourceProviderClient
	engine *fakeEngine
}

type resource struct {
	typ, name string
	id        string
	inputs    *structpb.Struct // the checked inputs
	state     *structpb.Struct // the provider's outputs
}

func urn(typ, name string) string {
	return "urn:pulumi:plugintest::opsbook::" + typ + "::" + name
}

func toStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	return s
}

func (h *harness) configure() {
	t := h.t
	ctx := context.Background()
	provURN := urn("pulumi:providers:docker", "default")
	checked, err := h.client.CheckConfig(ctx, &pulumirpc.CheckRequest{
		Urn: provURN, Olds: &structpb.Struct{}, News: &structpb.Struct{}, Name: "default", Type: "pulumi:providers:docker",
	})
	if err != nil {
		t.Fatalf("CheckConfig: %v", err)
	}
	if len(checked.Failures) > 0 {
		t.Fatalf("CheckConfig failures: %v", checked.Failures)
	}
	_, err = h.client.Configure(ctx, &pulumirpc.ConfigureRequest{
		Args: checked.Inputs, AcceptSecrets: false, AcceptResources: true,
		SendsOldInputs: true, SendsOldInputsToDelete: true,
		Urn: &provURN,
	})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
}

func (h *harness) check(typ, name string, olds *structpb.Struct, news map[string]any) *structpb.Struct {
	t := h.t
	t.Helper()
	if olds == nil {
		olds = &structpb.Struct{}
	}
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	resp, err := h.client.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: urn(typ, name), Olds: olds, News: toStruct(t, news), RandomSeed: seed, Name: name, Type: typ,
	})
	if err != nil {
		t.Fatalf("Check %s %s: %v", typ, name, err)
	}
	if len(resp.Failures) > 0 {
		var msgs []string
		for _, f := range resp.Failures {
			msgs = append(msgs, f.Property+": "+f.Reason)
		}
		t.Fatalf("Check %s %s failed: %s", typ, name, strings.Join(msgs, "; "))
	}
	return resp.Inputs
}

func (h *harness) create(kind, name string, inputs map[string]any) *resource {
	t := h.t
	t.Helper()
	typ := tokenPrefix + kind
	checked := h.check(typ, name, nil, inputs)
	resp, err := h.client.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: urn(typ, name), Properties: checked, Timeout: 300, Name: name, Type: typ,
	})
	if err != nil {
		t.Fatalf("Create %s %s: %v", typ, name, err)
	}
	if resp.Id == "" {
		t.Fatalf("Create %s %s returned no ID", typ, name)
	}
	return &resource{typ: typ, name: name, id: resp.Id, inputs: checked, state: resp.Properties}
}

// read returns the provider's view of the object, or nil when the provider says it is gone.
func (h *harness) read(r *resource) *structpb.Struct {
	t := h.t
	t.Helper()
	resp, err := h.client.Read(context.Background(), &pulumirpc.ReadRequest{
		Id: r.id, Urn: urn(r.typ, r.name), Properties: r.state, Inputs: r.inputs, Name: r.name, Type: r.typ,
	})
	if err != nil {
		t.Fatalf("Read %s %s: %v", r.typ, r.name, err)
	}
	if resp.Id == "" {
		return nil
	}
	return resp.Properties
}

func (h *harness) diff(r *resource, news map[string]any) (*pulumirpc.DiffResponse, *structpb.Struct) {
	t := h.t
	t.Helper()
	checked := h.check(r.typ, r.name, r.inputs, news)
	resp, err := h.client.Diff(context.Background(), &pulumirpc.DiffRequest{
		Id: r.id, Urn: urn(r.typ, r.name), Olds: r.state, News: checked, OldInputs: r.inputs, Name: r.name, Type: r.typ,
	})
	if err != nil {
		t.Fatalf("Diff %s %s: %v", r.typ, r.name, err)
	}
	return resp, checked
}

func (h *harness) update(r *resource, checked *structpb.Struct) {
	t := h.t
	t.Helper()
	resp, err := h.client.Update(context.Background(), &pulumirpc.UpdateRequest{
		Id: r.id, Urn: urn(r.typ, r.name), Olds: r.state, News: checked, OldInputs: r.inputs, Timeout: 300,
		Name: r.name, Type: r.typ,
	})
	if err != nil {
		t.Fatalf("Update %s %s: %v", r.typ, r.name, err)
	}
	r.inputs, r.state = checked, resp.Properties
}

func (h *harness) delete(r *resource) error {
	_, err := h.client.Delete(context.Background(), &pulumirpc.DeleteRequest{
		Id: r.id, Urn: urn(r.typ, r.name), Properties: r.state, OldInputs: r.inputs, Timeout: 300,
		Name: r.name, Type: r.typ,
	})
	return err
}

// --- the Docker engine's view ----------------------------------------------------------------

func dockerCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// inspect returns what the engine knows of an object (kind: network, volume, secret, service),
// or nil when it has no such object.
func inspect(t *testing.T, kind, id string) map[string]any {
	t.Helper()
	out, err := dockerCLI(kind, "inspect", id)
	if err != nil {
		if strings.Contains(strings.ToLower(out), "no such") || strings.Contains(out, "not found") {
			return nil
		}
		t.Fatalf("%v", err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("docker %s inspect %s: unexpected answer %q (%v)", kind, id, out, err)
	}
	return list[0]
}

// at walks a decoded JSON document: at(m, "Spec", "Labels", "x"), numbers index arrays.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func expect(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: the engine has %v, want %v", what, got, want)
	}
}

// runningContainers lists the service's running task containers on this node.
func runningContainers(t *testing.T, serviceID string) []string {
	t.Helper()
	out, err := dockerCLI("ps", "-q", "--filter", "label=com.docker.swarm.service.id="+serviceID, "--filter", "status=running")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

// waitFor polls cond for up to d, for the engine's eventual consistency (tasks stopping,
// containers being removed), not for the provider: the provider's calls return when done.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// testImage is a local image the service can run without any pull: opsbook/base:bookworm when
// the toolchain has made it, else a scratch image holding a static helper built here.
type testImage struct {
	id     string
	sleep  []any
	cat    func(path string) []string
	health []any
}

const probeSource = `#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* sleep: idle forever; cat FILE: print it; test FILE: exit 0 when it is readable. */
int main(int argc, char **argv) {
	if (argc > 2 && strcmp(argv[1], "cat") == 0) {
		FILE *f = fopen(argv[2], "r");
		int c;
		if (!f) return 1;
		while ((c = fgetc(f)) != EOF) putchar(c);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "test") == 0) return access(argv[2], R_OK) == 0 ? 0 : 1;
	for (;;) pause();
}
`

// OPSBOOK_PLUGINTEST_SCRATCH=1 takes the scratch path even where the base image exists, to keep
// that path working.
func localImage(t *testing.T, prefix string) testImage {
	t.Helper()
	out, err := dockerCLI("image", "inspect", "--format", "{{.Id}}", "opsbook/base:bookworm")
	if err == nil && os.Getenv("OPSBOOK_PLUGINTEST_SCRATCH") != "1" {
		return testImage{
			id:     strings.TrimSpace(out),
			sleep:  []any{"sleep", "infinity"},
			cat:    func(p string) []string { return []string{"cat", p} },
			health: []any{"CMD", "test", "-s", "/run/secrets/app-secret"},
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe.c"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("musl-gcc", "-static", "-Os", "-o", filepath.Join(dir, "probe"), filepath.Join(dir, "probe.c")).CombinedOutput(); err != nil {
		t.Fatalf("opsbook/base:bookworm is absent and musl-gcc failed: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY probe /probe\nCMD [\"/probe\", \"sleep\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := prefix + "-image:test"
	// The classic builder: FROM scratch needs no registry, BuildKit's frontend might.
	cmd := exec.Command("docker", "build", "-q", "-t", tag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the scratch test image: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = dockerCLI("image", "rm", "-f", tag) })
	out, err = dockerCLI("image", "inspect", "--format", "{{.Id}}", tag)
	if err != nil {
		t.Fatal(err)
	}
	return testImage{
		id:     strings.TrimSpace(out),
		sleep:  []any{"/probe", "sleep"},
		cat:    func(p string) []string { return []string{"/probe", "cat", p} },
		health: []any{"CMD", "/probe", "test", "/run/secrets/app-secret"},
	}
}

// removeLeftovers removes every swarm object, network and volume whose name starts with prefix
// (the engine's name filters match substrings, so each name is checked again), services first so
// that the rest is no longer in use. It reports what it could not remove.
func removeLeftovers(t *testing.T, prefix string) {
	list := func(args ...string) []string {
		out, err := dockerCLI(args...)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return nil
		}
		var names []string
		for _, n := range strings.Fields(out) {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
		return names
	}
	for _, s := range list("service", "ls", "--filter", "name="+prefix, "--format", "{{.Name}}") {
		t.Logf("cleanup: removing service %s", s)
		_, _ = dockerCLI("service", "rm", s)
		waitFor(90*time.Second, func() bool {
			out, _ := dockerCLI("ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+s)
			return strings.TrimSpace(out) == ""
		})
	}
	for _, kind := range []string{"secret", "network", "volume"} {
		format := "{{.Name}}"
		for _, n := range list(kind, "ls", "--filter", "name="+prefix, "--format", format) {
			t.Logf("cleanup: removing %s %s", kind, n)
			if !waitFor(60*time.Second, func() bool { _, err := dockerCLI(kind, "rm", n); return err == nil }) {
				t.Errorf("cleanup: could not remove %s %s", kind, n)
			}
		}
	}
}

func TestSwarmObjectsThroughPlugin(t *testing.T) {
	if out, err := dockerCLI("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"); err != nil {
		t.Fatalf("the Docker engine does not answer, and this test needs it (it never skips): %v", err)
	} else if strings.TrimSpace(out) != "active true" {
		t.Fatalf("the Docker engine is not a swarm manager (state %q): run scripts/lib/swarm.sh", strings.TrimSpace(out))
	}

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "opsbook-plugintest-" + hex.EncodeToString(suffix)
	t.Logf("objects are named %s-*", prefix)
	t.Cleanup(func() { removeLeftovers(t, prefix) })

	img := localImage(t, prefix)
	client, engine := startPlugin(t)
	h := &harness{t: t, client: client, engine: engine}
	h.configure()

	label := func(key, value string) []any { return []any{map[string]any{"label": key, "value": value}} }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	// --- create and read ---------------------------------------------------------------------
	netName := prefix + "-net"
	network := h.create("network:Network", "net", map[string]any{
		"name": netName, "driver": "overlay", "attachable": true, "labels": label("opsbook.test", prefix),
	})
	n := inspect(t, "network", network.id)
	if n == nil {
		t.Fatalf("network %s: created by the plugin, unknown to the engine", network.id)
	}
	expect(t, "network name", n["Name"], netName)
	expect(t, "network driver", n["Driver"], "overlay")
	expect(t, "network attachable", n["Attachable"], true)
	expect(t, "network label", at(n, "Labels", "opsbook.test"), prefix)
	if got := h.read(network); got == nil || got.Fields["name"].GetStringValue() != netName {
		t.Errorf("Read network: %v", got)
	}

	volName := prefix + "-vol"
	volume := h.create("volume:Volume", "vol", map[string]any{"name": volName, "labels": label("opsbook.test", prefix)})
	v := inspect(t, "volume", volume.id)
	if v == nil {
		t.Fatalf("volume %s: created by the plugin, unknown to the engine", volume.id)
	}
	expect(t, "volume label", at(v, "Labels", "opsbook.test"), prefix)
	if got := h.read(volume); got == nil || got.Fields["name"].GetStringValue() != volName {
		t.Errorf("Read volume: %v", got)
	}

	secret1 := h.create("secret:Secret", "secret1", map[string]any{
		"name": prefix + "-secret-1", "data": b64("s3cret-1"), "labels": label("opsbook.test", prefix),
	})
	s := inspect(t, "secret", secret1.id)
	if s == nil {
		t.Fatalf("secret %s: created by the plugin, unknown to the engine", secret1.id)
	}
	expect(t, "secret name", at(s, "Spec", "Name"), prefix+"-secret-1")
	expect(t, "secret label", at(s, "Spec", "Labels", "opsbook.test"), prefix)
	if got := h.read(secret1); got == nil {
		t.Errorf("Read secret: the provider says it is gone")
	}

	const secretFile = "/run/secrets/app-secret"
	svcName := prefix + "-svc"
	serviceInputs := func(secret *resource, replicas int, stage string) map[string]any {
		return map[string]any{
			"name":   svcName,
			"labels": label("opsbook.test", prefix),
			"taskSpec": map[string]any{
				"containerSpec": map[string]any{
					"image":    img.id,
					"commands": img.sleep,
					"env":      map[string]any{"STAGE": stage},
					"secrets": []any{map[string]any{
						"secretId": secret.id, "secretName": secret.state.Fields["name"].GetStringValue(), "fileName": secretFile,
					}},
					"mounts": []any{map[string]any{"target": "/data", "source": volName, "type": "volume"}},
					"healthcheck": map[string]any{
						"tests": img.health, "interval": "1s", "timeout": "3s", "retries": 3,
					},
				},
				// id: upstream deprecated name here, and the plugin warns on every plan that uses it.
				"networksAdvanceds": []any{map[string]any{"id": network.id}},
			},
			"mode":           map[string]any{"replicated": map[string]any{"replicas": replicas}},
			"updateConfig":   map[string]any{"order": "start-first", "parallelism": 1, "failureAction": "pause", "delay": "1s", "monitor": "2s"},
			"endpointSpec":   map[string]any{"mode": "dnsrr"},
			"convergeConfig": map[string]any{"delay": "1s", "timeout": "2m"},
		}
	}
	service := h.create("service:Service", "svc", serviceInputs(secret1, 1, "one"))
	sv := inspect(t, "service", service.id)
	if sv == nil {
		t.Fatalf("service %s: created by the plugin, unknown to the engine", service.id)
	}
	expect(t, "service name", at(sv, "Spec", "Name"), svcName)
	expect(t, "service image", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Image"), img.id)
	expect(t, "service replicas", at(sv, "Spec", "Mode", "Replicated", "Replicas"), 1)
	expect(t, "service endpoint mode", at(sv, "Spec", "EndpointSpec", "Mode"), "dnsrr")
	expect(t, "service update order", at(sv, "Spec", "UpdateConfig", "Order"), "start-first")
	expect(t, "service secret", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Secrets", 0, "SecretID"), secret1.id)
	expect(t, "service secret file", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Secrets", 0, "File", "Name"), secretFile)
	expect(t, "service network", at(sv, "Spec", "TaskTemplate", "Networks", 0, "Target"), network.id)
	expect(t, "service volume mount", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Mounts", 0, "Source"), volName)
	expect(t, "service env", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Env"), []any{"STAGE=one"})
	// convergeConfig makes Create wait for the tasks, so one is running now, secret mounted.
	checkTasks(t, img, service.id, 1, "s3cret-1")
	if got := h.read(service); got == nil || got.Fields["name"].GetStringValue() != svcName {
		t.Errorf("Read service: %v", got)
	}

	// --- update: rotate the secret the way auto-named secrets do (create-first) ---------------
	secret2 := h.create("secret:Secret", "secret2", map[string]any{
		"name": prefix + "-secret-2", "data": b64("s3cret-2"), "labels": label("opsbook.test", prefix),
	})
	if inspect(t, "secret", secret2.id) == nil {
		t.Fatalf("secret %s: created by the plugin, unknown to the engine", secret2.id)
	}
	// The engine refuses to delete a secret a service uses: the reason an explicitly named
	// secret (replaced delete-first) cannot be rotated under a running service.
	if err := h.delete(secret1); err == nil {
		t.Errorf("deleting a secret in use succeeded; the engine should have refused")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Errorf("deleting a secret in use: %v (expected the engine's \"in use\")", err)
	}
	if inspect(t, "secret", secret1.id) == nil {
		t.Fatalf("secret %s is gone although a service uses it", secret1.id)
	}

	diff, checked := h.diff(service, serviceInputs(secret2, 2, "two"))
	if diff.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(diff.Replaces) > 0 {
		t.Fatalf("Diff service: changes %v, replaces %v; want an in-place update", diff.Changes, diff.Replaces)
	}
	h.update(service, checked)
	sv = inspect(t, "service", service.id)
	if sv == nil {
		t.Fatalf("service %s vanished on update", service.id)
	}
	expect(t, "updated replicas", at(sv, "Spec", "Mode", "Replicated", "Replicas"), 2)
	expect(t, "updated env", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Env"), []any{"STAGE=two"})
	expect(t, "updated secret", at(sv, "Spec", "TaskTemplate", "ContainerSpec", "Secrets", 0, "SecretID"), secret2.id)
	expect(t, "update order kept", at(sv, "Spec", "UpdateConfig", "Order"), "start-first")
	checkTasks(t, img, service.id, 2, "s3cret-2")

	if err := h.delete(secret1); err != nil {
		t.Errorf("deleting the rotated-out secret: %v", err)
	}
	if inspect(t, "secret", secret1.id) != nil {
		t.Errorf("secret %s: deleted by the plugin, still known to the engine", secret1.id)
	}
	if got := h.read(secret1); got != nil {
		t.Errorf("Read of a deleted secret: the provider still sees it")
	}

	// Networks, volumes and secrets are immutable in the engine: a change must be a replacement.
	for _, c := range []struct {
		r      *resource
		inputs map[string]any
	}{
		{network, map[string]any{"name": netName, "driver": "overlay", "attachable": true, "labels": label("opsbook.test", "changed")}},
		{volume, map[string]any{"name": volName, "labels": label("opsbook.test", "changed")}},
		{secret2, map[string]any{"name": prefix + "-secret-2", "data": b64("s3cret-3"), "labels": label("opsbook.test", prefix)}},
	} {
		d, _ := h.diff(c.r, c.inputs)
		if d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) == 0 {
			t.Errorf("Diff %s: changes %v, replaces %v; want a replacement", c.r.typ, d.Changes, d.Replaces)
		}
	}

	// --- delete ------------------------------------------------------------------------------
	if err := h.delete(service); err != nil {
		t.Fatalf("Delete service: %v", err)
	}
	if inspect(t, "service", service.id) != nil {
		t.Errorf("service %s: deleted by the plugin, still known to the engine", service.id)
	}
	if !waitFor(60*time.Second, func() bool { return len(runningContainers(t, service.id)) == 0 }) {
		t.Errorf("service %s: its containers still run a minute after the delete", service.id)
	}

	// The network and volume are replaced as the engine would do it for a changed label:
	// the new one first, then the old one deleted.
	network2 := h.create("network:Network", "net2", map[string]any{
		"name": prefix + "-net-2", "driver": "overlay", "attachable": true, "labels": label("opsbook.test", "changed"),
	})
	expect(t, "replacement network label", at(inspect(t, "network", network2.id), "Labels", "opsbook.test"), "changed")
	volume2 := h.create("volume:Volume", "vol2", map[string]any{"name": prefix + "-vol-2", "labels": label("opsbook.test", "changed")})
	expect(t, "replacement volume label", at(inspect(t, "volume", volume2.id), "Labels", "opsbook.test"), "changed")

	for _, r := range []*resource{secret2, network, volume, network2, volume2} {
		kind := strings.SplitN(strings.TrimPrefix(r.typ, tokenPrefix), ":", 2)[0]
		// A volume can stay busy for a moment while the last task container is removed.
		var err error
		if !waitFor(30*time.Second, func() bool { err = h.delete(r); return err == nil }) {
			t.Errorf("Delete %s %s: %v", kind, r.id, err)
			continue
		}
		if inspect(t, kind, r.id) != nil {
			t.Errorf("%s %s: deleted by the plugin, still known to the engine", kind, r.id)
		}
		if got := h.read(r); got != nil {
			t.Errorf("Read of deleted %s %s: the provider still sees it", kind, r.id)
		}
	}
}

// checkTasks checks that want task containers run, healthy, and read content from the secret file.
func checkTasks(t *testing.T, img testImage, serviceID string, want int, content string) {
	t.Helper()
	var ids []string
	var why string
	// start-first leaves the old task stopping for a moment after convergence, and a new
	// container's health is "starting" until its first probe.
	ok := waitFor(60*time.Second, func() bool {
		ids = runningContainers(t, serviceID)
		if len(ids) != want {
			why = fmt.Sprintf("%d running", len(ids))
			return false
		}
		for _, id := range ids {
			out, err := dockerCLI(append([]string{"exec", id}, img.cat("/run/secrets/app-secret")...)...)
			if err != nil || out != content {
				why = fmt.Sprintf("%s reads %q (%v)", id, out, err)
				return false
			}
			out, err = dockerCLI("inspect", "--format", "{{.State.Health.Status}}", id)
			if err != nil || strings.TrimSpace(out) != "healthy" {
				why = fmt.Sprintf("%s health %q (%v)", id, strings.TrimSpace(out), err)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Errorf("service %s: want %d healthy running tasks reading %q from the secret file: %s", serviceID, want, content, why)
	}
}
