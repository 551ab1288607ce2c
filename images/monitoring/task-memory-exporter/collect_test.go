package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// node builds a fake node: the engine's containers directory and a cgroup tree.
type node struct {
	t          *testing.T
	containers string
	cgroups    string
}

func newNode(t *testing.T) node {
	dir := t.TempDir()
	n := node{t: t, containers: filepath.Join(dir, "containers"), cgroups: filepath.Join(dir, "cgroup")}
	for _, d := range []string{n.containers, n.cgroups} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n node) write(path, content string) {
	n.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

func (n node) container(id, stack, service, task string, running bool) {
	state := "false"
	if running {
		state = "true"
	}
	n.write(filepath.Join(n.containers, id, "config.v2.json"),
		`{"ID":"`+id+`","Config":{"Env":["SECRET_FILE=/run/secrets/X"],"Labels":{"opsbook.stack":"`+stack+`","opsbook.service":"`+service+`",`+
			`"com.docker.swarm.service.name":"opsbook-`+stack+`-`+service+`","com.docker.swarm.task.name":"`+task+`"}},"State":{"Running":`+state+`}}`)
}

func TestCgroupV2SystemdAndCgroupfs(t *testing.T) {
	n := newNode(t)
	n.container("aaa", "prod", "api", "opsbook-prod-api.1.x", true)
	n.container("bbb", "prod", "workers", "opsbook-prod-workers.1.y", true)
	api := filepath.Join(n.cgroups, "system.slice", "docker-aaa.scope")
	n.write(filepath.Join(api, "memory.current"), "209715200\n")
	n.write(filepath.Join(api, "memory.max"), "268435456\n")
	n.write(filepath.Join(api, "memory.stat"), "anon 150000000\ninactive_file 10485760\nactive_file 5\n")
	workers := filepath.Join(n.cgroups, "docker", "bbb")
	n.write(filepath.Join(workers, "memory.current"), "1000\n")
	n.write(filepath.Join(workers, "memory.max"), "max\n")
	n.write(filepath.Join(workers, "memory.stat"), "anon 1000\n")

	got, err := Source{CgroupRoot: n.cgroups, ContainersDir: n.containers, Stack: "prod"}.Collect()
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{
		{Service: "api", SwarmService: "opsbook-prod-api", Task: "opsbook-prod-api.1.x", WorkingSet: 209715200 - 10485760, Limit: 268435456},
		{Service: "workers", SwarmService: "opsbook-prod-workers", Task: "opsbook-prod-workers.1.y", WorkingSet: 1000, Limit: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	text := Render(got)
	for _, line := range []string{
		`opsbook_task_memory_working_set_bytes{service="api",swarm_service="opsbook-prod-api",task="opsbook-prod-api.1.x"} 199229440`,
		`opsbook_task_memory_limit_bytes{service="api",swarm_service="opsbook-prod-api",task="opsbook-prod-api.1.x"} 268435456`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("missing %q in:\n%s", line, text)
		}
	}
	// No limit: no limit series (a ratio against nothing would read as 0 %).
	if strings.Contains(text, `opsbook_task_memory_limit_bytes{service="workers"`) {
		t.Errorf("a limit series for a task without a limit:\n%s", text)
	}
	// Only labels reach the output: nothing of the container's env.
	if strings.Contains(text, "SECRET") {
		t.Errorf("env leaked into the metrics:\n%s", text)
	}
}

func TestCgroupV1OtherStacksAndStoppedContainers(t *testing.T) {
	n := newNode(t)
	n.container("ccc", "prod", "", "opsbook-prod-postgres.1.z", true)
	n.write(filepath.Join(n.containers, "ccc", "config.v2.json"),
		`{"ID":"ccc","Config":{"Labels":{"opsbook.stack":"prod","opsbook.component":"database","com.docker.swarm.service.name":"opsbook-prod-postgres","com.docker.swarm.task.name":"opsbook-prod-postgres.1.z"}},"State":{"Running":true}}`)
	n.container("ddd", "staging", "api", "opsbook-staging-api.1.q", true) // another stack on the node
	n.container("eee", "prod", "api", "opsbook-prod-api.1.old", false)    // stopped
	n.container("fff", "prod", "api", "opsbook-prod-api.2.gone", true)    // cgroup already gone
	pg := filepath.Join(n.cgroups, "memory", "docker", "ccc")
	n.write(filepath.Join(pg, "memory.usage_in_bytes"), "52428800\n")
	n.write(filepath.Join(pg, "memory.limit_in_bytes"), "536870912\n")
	n.write(filepath.Join(pg, "memory.stat"), "cache 100\ntotal_inactive_file 2428800\n")
	for _, id := range []string{"ddd", "eee"} {
		d := filepath.Join(n.cgroups, "memory", "docker", id)
		n.write(filepath.Join(d, "memory.usage_in_bytes"), "1\n")
		n.write(filepath.Join(d, "memory.limit_in_bytes"), "9223372036854771712\n")
		n.write(filepath.Join(d, "memory.stat"), "")
	}

	got, err := Source{CgroupRoot: n.cgroups, ContainersDir: n.containers, Stack: "prod"}.Collect()
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{{Service: "database", SwarmService: "opsbook-prod-postgres", Task: "opsbook-prod-postgres.1.z", WorkingSet: 50000000, Limit: 536870912}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestUnreadableContainersDirectoryIsAnError(t *testing.T) {
	_, err := Source{CgroupRoot: t.TempDir(), ContainersDir: filepath.Join(t.TempDir(), "missing"), Stack: "prod"}.Collect()
	if err == nil || !strings.Contains(err.Error(), "containers directory") {
		t.Fatalf("want an error naming the containers directory, got %v", err)
	}
}

func TestQuoteEscapesLabelValues(t *testing.T) {
	if got := quote("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Fatalf("got %s", got)
	}
}
