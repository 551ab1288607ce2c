// opsbook-task-memory-exporter: each running task's memory use against its limit, for Prometheus.
//
// Why it exists: the issue asks for memory against each service's limit, and nothing in Debian
// exports it (no cAdvisor; the node exporter has no cgroup collector; the engine's own metrics have
// no per-container figures). It reads what the kernel already keeps, the container's memory cgroup,
// and names the container by the labels the engine stored for it, so it needs no Docker socket
// (which would make it root on the node): two directories of the node mounted read-only.
//
//	opsbook-task-memory-exporter --stack NAME [--listen :9101] [--cgroup-root /host/cgroup]
//	                             [--containers /host/containers]
//
// Serves /metrics (text format 0.0.4), one pair per running container of the stack:
//
//	opsbook_task_memory_working_set_bytes{service,swarm_service,task}  usage minus inactive file cache
//	opsbook_task_memory_limit_bytes{service,swarm_service,task}        absent when the task has no limit
//
// The working set is what the kernel cannot simply drop when the limit is reached (the figure
// `docker stats` shows), so "over 80 % of the limit" means close to being OOM-killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", ":9101", "address to serve /metrics on")
	stack := flag.String("stack", "", "only containers whose opsbook.stack label is this (required)")
	cgroupRoot := flag.String("cgroup-root", "/host/cgroup", "the node's /sys/fs/cgroup, mounted read-only")
	containers := flag.String("containers", "/host/containers", "the engine's <data root>/containers, mounted read-only")
	flag.Parse()
	if *stack == "" {
		fmt.Fprintln(os.Stderr, "opsbook-task-memory-exporter: --stack is required (the opsbook.stack label of the containers to report)")
		os.Exit(2)
	}
	source := Source{CgroupRoot: *cgroupRoot, ContainersDir: *containers, Stack: *stack}
	http.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		samples, err := source.Collect()
		if err != nil {
			// A scrape that cannot read the node says so: Prometheus marks the target down.
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(Render(samples)))
	})
	log.Printf("serving /metrics on %s for stack %s (cgroups %s, containers %s)", *listen, *stack, *cgroupRoot, *containers)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
