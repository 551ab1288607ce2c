package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Labels the engine and opsbook put on a task's container.
const (
	labelStack        = "opsbook.stack"
	labelService      = "opsbook.service"   // the spec's name (api, workers, ...)
	labelComponent    = "opsbook.component" // database, cache, backup, monitoring, ...
	labelSwarmService = "com.docker.swarm.service.name"
	labelSwarmTask    = "com.docker.swarm.task.name"
)

// A limit at or above this is the kernel's "no limit" (cgroup v1 writes 2^63 rounded to pages).
const noLimit = uint64(1) << 62

// Source reads one node's containers and their memory cgroups.
type Source struct {
	CgroupRoot    string
	ContainersDir string
	Stack         string
}

// Sample is one running container's memory.
type Sample struct {
	Service      string
	SwarmService string
	Task         string
	WorkingSet   uint64
	Limit        uint64 // 0: no limit
}

// containerConfig is the part of the engine's config.v2.json read here: labels and state only.
type containerConfig struct {
	ID     string `json:"ID"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	State struct {
		Running bool `json:"Running"`
	} `json:"State"`
}

// Collect returns the stack's running containers on this node, sorted by task name. A container
// whose cgroup is gone (it stopped between the two reads) is left out, not an error.
func (s Source) Collect() ([]Sample, error) {
	entries, err := os.ReadDir(s.ContainersDir)
	if err != nil {
		return nil, fmt.Errorf("reading the engine's containers directory: %w", err)
	}
	var out []Sample
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(s.ContainersDir, e.Name(), "config.v2.json"))
		if err != nil {
			continue // being created or removed
		}
		var c containerConfig
		if json.Unmarshal(raw, &c) != nil || !c.State.Running || c.Config.Labels[labelStack] != s.Stack {
			continue
		}
		id := c.ID
		if id == "" {
			id = e.Name()
		}
		mem, err := readMemory(s.CgroupRoot, id)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		labels := c.Config.Labels
		service := labels[labelService]
		if service == "" {
			service = labels[labelComponent]
		}
		out = append(out, Sample{Service: service, SwarmService: labels[labelSwarmService], Task: labels[labelSwarmTask], WorkingSet: mem.workingSet, Limit: mem.limit})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out, nil
}

type memory struct{ workingSet, limit uint64 }

// cgroupLayout is where one cgroup version keeps a container's memory files, and their names.
type cgroupLayout struct {
	dirs                      []string // relative to the cgroup root, %s is the container ID
	usage, limit, inactiveKey string
}

var layouts = []cgroupLayout{
	// cgroup v2 (unified): systemd driver, then cgroupfs driver.
	{dirs: []string{"system.slice/docker-%s.scope", "docker/%s"}, usage: "memory.current", limit: "memory.max", inactiveKey: "inactive_file"},
	// cgroup v1: the memory controller's own hierarchy.
	{dirs: []string{"memory/docker/%s", "memory/system.slice/docker-%s.scope"}, usage: "memory.usage_in_bytes", limit: "memory.limit_in_bytes", inactiveKey: "total_inactive_file"},
}

func readMemory(root, id string) (memory, error) {
	for _, l := range layouts {
		for _, pattern := range l.dirs {
			dir := filepath.Join(root, fmt.Sprintf(pattern, id))
			usage, err := readUint(filepath.Join(dir, l.usage))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return memory{}, err
			}
			limit, err := readUint(filepath.Join(dir, l.limit))
			if err != nil {
				return memory{}, err
			}
			if limit >= noLimit {
				limit = 0
			}
			inactive, err := statValue(filepath.Join(dir, "memory.stat"), l.inactiveKey)
			if err != nil {
				return memory{}, err
			}
			ws := uint64(0)
			if usage > inactive {
				ws = usage - inactive
			}
			return memory{workingSet: ws, limit: limit}, nil
		}
	}
	return memory{}, os.ErrNotExist
}

// readUint reads a cgroup file holding one number, or "max" (no limit).
func readUint(path string) (uint64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	text := strings.TrimSpace(string(raw))
	if text == "max" {
		return noLimit, nil
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: not a number: %q", path, text)
	}
	return n, nil
}

// statValue reads one key of a memory.stat file; a key the kernel does not write counts as 0.
func statValue(path, key string) (uint64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == key {
			return strconv.ParseUint(fields[1], 10, 64)
		}
	}
	return 0, nil
}

// Render writes the samples in Prometheus's text format.
func Render(samples []Sample) string {
	var b strings.Builder
	b.WriteString("# HELP opsbook_task_memory_working_set_bytes Memory a task uses that the kernel cannot drop (usage minus inactive file cache).\n")
	b.WriteString("# TYPE opsbook_task_memory_working_set_bytes gauge\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "opsbook_task_memory_working_set_bytes{%s} %d\n", s.labels(), s.WorkingSet)
	}
	b.WriteString("# HELP opsbook_task_memory_limit_bytes The task's memory limit.\n")
	b.WriteString("# TYPE opsbook_task_memory_limit_bytes gauge\n")
	for _, s := range samples {
		if s.Limit > 0 {
			fmt.Fprintf(&b, "opsbook_task_memory_limit_bytes{%s} %d\n", s.labels(), s.Limit)
		}
	}
	return b.String()
}

func (s Sample) labels() string {
	return fmt.Sprintf("service=%s,swarm_service=%s,task=%s", quote(s.Service), quote(s.SwarmService), quote(s.Task))
}

// quote escapes a label value as the text format wants: backslash, double quote and newline.
func quote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}
