// Package tests drives the built pulumi-resource-docker binary the way the Pulumi engine does,
// over its gRPC interface, so that what is tested is the very file the toolchain installs (its
// embedded schema, its version label, the patched SDK inside it), not a rebuild of the sources.
//
// scripts/lib/plugin-docker.sh test builds the plugin and runs these tests with
// OPSBOOK_DOCKER_PLUGIN (the binary) and OPSBOOK_ROOT (the repository, for node_modules) set.
package tests

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"
)

// repoRoot is where node_modules lives: OPSBOOK_ROOT when the script runs the tests from its
// build copy, else four levels up from this package (a run inside the repository).
func repoRoot(t *testing.T) string {
	t.Helper()
	if r := os.Getenv("OPSBOOK_ROOT"); r != "" {
		return r
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", "..", "..", ".."))
}

func pluginBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OPSBOOK_DOCKER_PLUGIN")
	if bin == "" {
		t.Fatal("OPSBOOK_DOCKER_PLUGIN is not set: run these tests through `bash scripts/lib/plugin-docker.sh test`, " +
			"which builds the plugin and points the tests at it")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("plugin binary: %v", err)
	}
	return bin
}

// fakeEngine stands in for the Pulumi engine: the plugin logs to it and health-checks it, and
// quits when the health check fails.
type fakeEngine struct {
	pulumirpc.UnimplementedEngineServer
	mu   sync.Mutex
	logs []string
}

func (e *fakeEngine) Log(_ context.Context, req *pulumirpc.LogRequest) (*emptypb.Empty, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs = append(e.logs, fmt.Sprintf("%s: %s", req.Severity, req.Message))
	return &emptypb.Empty{}, nil
}

func (e *fakeEngine) GetRootResource(context.Context, *pulumirpc.GetRootResourceRequest) (*pulumirpc.GetRootResourceResponse, error) {
	return &pulumirpc.GetRootResourceResponse{}, nil
}

func (e *fakeEngine) SetRootResource(context.Context, *pulumirpc.SetRootResourceRequest) (*pulumirpc.SetRootResourceResponse, error) {
	return &pulumirpc.SetRootResourceResponse{}, nil
}

func (e *fakeEngine) Logs() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.logs, "\n")
}

// startPlugin runs the plugin as the engine would (`pulumi-resource-docker <engine address>`,
// the port it serves on as the first line of its stdout) and returns a client for it.
func startPlugin(t *testing.T) (pulumirpc.ResourceProviderClient, *fakeEngine) {
	t.Helper()
	bin := pluginBinary(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine := &fakeEngine{}
	srv := grpc.NewServer()
	pulumirpc.RegisterEngineServer(srv, engine)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, lis.Addr().String())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("plugin stderr:\n%s\nplugin log messages:\n%s", stderr.String(), engine.Logs())
		}
	})

	portCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			portCh <- strings.TrimSpace(sc.Text())
		}
		close(portCh)
		for sc.Scan() {
		}
	}()
	var port string
	select {
	case p, ok := <-portCh:
		if !ok || p == "" {
			t.Fatalf("plugin printed no port; stderr:\n%s", stderr.String())
		}
		port = p
	case <-time.After(60 * time.Second):
		t.Fatalf("plugin printed no port within 60 s; stderr:\n%s", stderr.String())
	}
	conn, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pulumirpc.NewResourceProviderClient(conn), engine
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
