// pulumi-language-nodejs is opsbook's own Pulumi language host for Node.js. The official one is not
// available from our Go module mirror, so this small replacement implements the parts of the
// LanguageRuntime gRPC service the CLI needs to run TypeScript programs and policy packs. All real work
// is delegated to the scripts shipped in @pulumi/pulumi (cmd/run, cmd/run-policy-pack, cmd/run-plugin).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is reported to the engine; it matches the @pulumi/pulumi SDK and CLI we pin.
const version = "3.259.0"

func main() {
	// The engine launches language plugins as: [--logtostderr] [-v=N] [--tracing URL] <engine-address>.
	// A dependency (glog) already registers -logtostderr and -v on the default flag set; define them only
	// if missing, and let InitLogging read their values from there.
	if flag.Lookup("logtostderr") == nil {
		flag.Bool("logtostderr", false, "log to stderr instead of a file")
	}
	if flag.Lookup("v") == nil {
		flag.Int("v", 0, "log verbosity")
	}
	tracing := flag.String("tracing", "", "tracing endpoint, forwarded to the program")
	flag.Parse()
	logging.InitLogging(false, 0, false)

	host := &languageHost{tracing: *tracing}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if addr := flag.Arg(0); addr != "" {
		host.setEngine(ctx, addr, stop)
	}

	// Stop serving once the engine is gone (health check failed) so we never outlive it.
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	// The engine reads exactly one line from our stdout: the port to dial.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	tracing string

	mu     sync.Mutex
	engine string // engine gRPC address, from argv or Handshake
}

// setEngine records the engine address and starts watching it. Healthcheck calls stop when the engine
// stops answering, which shuts the server down.
func (h *languageHost) setEngine(ctx context.Context, addr string, stop context.CancelFunc) {
	h.mu.Lock()
	first := h.engine == ""
	h.engine = addr
	h.mu.Unlock()
	if first && stop != nil {
		if err := rpcutil.Healthcheck(ctx, addr, 5*time.Second, stop); err != nil {
			logging.V(3).Infof("cannot watch engine %s: %v", addr, err)
		}
	}
}

func (h *languageHost) engineAddress() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engine
}

func (h *languageHost) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	// Only used when the engine attaches to an already running host; no health watch then, as the
	// host's lifetime is managed by whoever started it.
	h.setEngine(ctx, req.GetEngineAddress(), nil)
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPlugins and GetRequiredPackages report nothing: opsbook only uses dynamic providers, which
// the engine loads itself, so there are no provider plugins to pre-install.
func (h *languageHost) GetRequiredPlugins(context.Context,
	*pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(context.Context,
	*pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) RuntimeOptionsPrompts(context.Context,
	*pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// Cancel is a no-op: programs are killed through their request context when the engine goes away.
func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (h *languageHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on PATH: %w", err)
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running node --version: %w", err)
	}
	return &pulumirpc.AboutResponse{
		Executable: node,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}

// GetProgramDependencies lists package.json dependencies, with the installed version when the package
// is present in node_modules and the declared range otherwise.
func (h *languageHost) GetProgramDependencies(_ context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetPwd()
	}
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	deps, err := packageDeps(data)
	if err != nil {
		return nil, fmt.Errorf("parsing package.json: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		v := d[1]
		if installed, err := os.ReadFile(filepath.Join(dir, "node_modules", d[0], "package.json")); err == nil {
			if iv := jsonVersion(installed); iv != "" {
				v = iv
			}
		}
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d[0], Version: v})
	}
	return resp, nil
}

// InstallDependencies runs `<packagemanager> install` when node_modules is missing, streaming its output
// back to the CLI.
func (h *languageHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory()
	}
	stdout, stderr := streamPair(
		func(b []byte) error { return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b}) },
		func(b []byte) error { return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b}) })

	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		fmt.Fprintf(stdout, "node_modules already present in %s, skipping install\n", dir)
		return nil
	}
	pm := parseRuntimeOptions(req.GetInfo().GetOptions().AsMap()).packagemanager
	cmd := exec.CommandContext(server.Context(), pm, "install")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, stdout, stderr
	fmt.Fprintf(stdout, "Installing dependencies in %s with %s install...\n", dir, pm)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s install failed: %w", pm, err)
	}
	return nil
}

// Run executes the Pulumi program through @pulumi/pulumi/cmd/run. Its output goes straight to our own
// stdout/stderr, which the engine already relays to the user.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	programDir, rootDir, entry := info.GetProgramDirectory(), info.GetRootDirectory(), info.GetEntryPoint()
	if programDir == "" { // engines that predate ProgramInfo only send pwd and program
		programDir, rootDir, entry = req.GetPwd(), req.GetPwd(), req.GetProgram()
	}
	if req.GetAttachDebugger() {
		logging.V(3).Infof("debugger attach requested but not supported; running normally")
	}
	opts := parseRuntimeOptions(info.GetOptions().AsMap())

	script, err := findSDKScript(programDir, "run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	args := runArgs(opts, runParams{
		script:        script,
		monitor:       req.GetMonitorAddress(),
		engine:        h.engineAddress(),
		project:       req.GetProject(),
		stack:         req.GetStack(),
		organization:  req.GetOrganization(),
		pwd:           req.GetPwd(),
		rootDirectory: rootDir,
		program:       programPath(req.GetPwd(), programDir, entry),
		dryRun:        req.GetDryRun(),
		parallel:      req.GetParallel(),
		tracing:       h.tracing,
		programArgs:   req.GetArgs(),
	})
	env, err := runEnv(os.Environ(), opts, rootDir, req.GetConfig(), req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = req.GetPwd(), env, os.Stdout, os.Stderr
	logging.V(5).Infof("running node %v", args)
	code, err := runCommand(cmd)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	msg, bail := exitResult(code)
	return &pulumirpc.RunResponse{Error: msg, Bail: bail}, nil
}

// RunPlugin starts a Node.js plugin (a policy pack for kind "analyzer") and streams its output back; the
// engine reads the plugin's gRPC port from the streamed stdout, then gets the exit code at the end.
func (h *languageHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	info := req.GetInfo()
	programDir := info.GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetProgram()
	}
	opts := parseRuntimeOptions(info.GetOptions().AsMap())
	script, err := findSDKScript(programDir, pluginScript(req.GetKind()))
	if err != nil {
		return err
	}
	args := pluginArgs(opts, script, req.GetKind(), programDir, req.GetArgs())

	env := req.GetEnv()
	if len(env) == 0 {
		env = os.Environ()
	}
	stdout, stderr := streamPair(
		func(b []byte) error {
			return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
		},
		func(b []byte) error {
			return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
		})

	// The engine stops the plugin by cancelling this stream, which kills node.
	cmd := exec.CommandContext(server.Context(), "node", args...)
	// Policy packs run from their own directory so their tsconfig.json and node_modules are used, as the
	// engine's legacy pulumi-analyzer-policy path does.
	cmd.Dir = programDir
	if req.GetKind() != "analyzer" && req.GetPwd() != "" {
		cmd.Dir = req.GetPwd()
	}
	cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
	logging.V(5).Infof("running plugin node %v in %s", args, cmd.Dir)
	code, err := runCommand(cmd)
	if err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{
		Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)},
	})
}

// runCommand runs cmd and returns its exit code; err is only set when node could not be run at all.
func runCommand(cmd *exec.Cmd) (int, error) {
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), nil
	default:
		return -1, fmt.Errorf("could not run node: %w", err)
	}
}

// streamPair returns stdout/stderr writers over a gRPC stream. exec.Cmd copies the two pipes from
// separate goroutines, but a gRPC stream must not be sent on concurrently, hence the shared lock.
func streamPair(sendOut, sendErr func([]byte) error) (io.Writer, io.Writer) {
	mu := &sync.Mutex{}
	return &lockedWriter{mu: mu, send: sendOut}, &lockedWriter{mu: mu, send: sendErr}
}

type lockedWriter struct {
	mu   *sync.Mutex
	send func([]byte) error
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Copy: the caller may reuse p after Write returns, while gRPC may still hold the message.
	if err := w.send(append([]byte(nil), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}
