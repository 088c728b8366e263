// Command contacthub-sim runs the Contacthub simulator (internal/simulators/hubsim)
// as an HTTP server for the local stack and demos.
//
// Usage:
//
//	contacthub-sim [-listen 127.0.0.1:8081] [-seed seed.json | -demo-customers N] [-state state.json] [-log-format text|json] [-log-level info]
//
// Every flag can also come from the environment: CONTACTHUB_SIM_LISTEN,
// CONTACTHUB_SIM_SEED, CONTACTHUB_SIM_STATE, CONTACTHUB_SIM_DEMO_CUSTOMERS,
// CONTACTHUB_SIM_LOG_FORMAT, CONTACTHUB_SIM_LOG_LEVEL; flags win.
//
// With -state, the simulator starts from the state file when it exists (the
// seed is then ignored) and writes its state there on SIGINT or SIGTERM, so
// customers and update offsets survive restarts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hubsend/hubsend/internal/simulators/hubsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "contacthub-sim:", err)
		os.Exit(1)
	}
}

type config struct {
	listen        string
	seedPath      string
	statePath     string
	demoCustomers int
	logFormat     string
	logLevel      slog.Level
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	fs := flag.NewFlagSet("contacthub-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var demo, level string
	fs.StringVar(&c.listen, "listen", env("CONTACTHUB_SIM_LISTEN", "127.0.0.1:8081"), "address to listen on")
	fs.StringVar(&c.seedPath, "seed", env("CONTACTHUB_SIM_SEED", ""), "seed fixture file (JSON)")
	fs.StringVar(&c.statePath, "state", env("CONTACTHUB_SIM_STATE", ""), "state file: loaded at start if present, written at shutdown")
	fs.StringVar(&demo, "demo-customers", env("CONTACTHUB_SIM_DEMO_CUSTOMERS", "0"), "without -seed, generate a demo workspace with this many customers")
	fs.StringVar(&c.logFormat, "log-format", env("CONTACTHUB_SIM_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&level, "log-level", env("CONTACTHUB_SIM_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	n, err := strconv.Atoi(demo)
	if err != nil || n < 0 {
		return config{}, fmt.Errorf("-demo-customers must be a non-negative integer, got %q", demo)
	}
	c.demoCustomers = n
	if c.logFormat != "text" && c.logFormat != "json" {
		return config{}, fmt.Errorf("-log-format must be text or json, got %q", c.logFormat)
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return config{}, fmt.Errorf("-log-level: %w", err)
	}
	return c, nil
}

// loadWorld picks the state file, the seed file, a demo or an empty world.
func loadWorld(c config, logger *slog.Logger) (hubsim.Seed, error) {
	if c.statePath != "" {
		seed, err := hubsim.LoadSeed(c.statePath)
		switch {
		case err == nil:
			logger.Info("loaded state", "path", c.statePath, "workspaces", len(seed.Workspaces))
			return seed, nil
		case !errors.Is(err, os.ErrNotExist):
			return hubsim.Seed{}, err
		}
	}
	if c.seedPath != "" {
		seed, err := hubsim.LoadSeed(c.seedPath)
		if err == nil {
			logger.Info("loaded seed", "path", c.seedPath, "workspaces", len(seed.Workspaces))
		}
		return seed, err
	}
	if c.demoCustomers > 0 {
		logger.Info("generated demo workspace", "workspace", "demo", "customers", c.demoCustomers)
		return hubsim.DemoSeed(hubsim.DemoOptions{Customers: c.demoCustomers, RandomSeed: 1}), nil
	}
	logger.Warn("no seed, state or demo: the simulator has no workspaces")
	return hubsim.Seed{}, nil
}

// run serves until ctx ends. ready, if not nil, receives the bound address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	opts := &slog.HandlerOptions{Level: c.logLevel}
	var handler slog.Handler = slog.NewTextHandler(stderr, opts)
	if c.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, opts)
	}
	logger := slog.New(handler)

	seed, err := loadWorld(c, logger)
	if err != nil {
		return err
	}
	sim := hubsim.New(hubsim.Options{Seed: seed, Logger: logger, RandomSeed: uint64(time.Now().UnixNano())})

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("contacthub simulator listening", "addr", ln.Addr().String(), "api", "http://"+ln.Addr().String()+"/hub/v1")
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("shutdown", "err", err)
	}
	if c.statePath != "" {
		if err := saveState(c.statePath, sim.Snapshot()); err != nil {
			return err
		}
		logger.Info("saved state", "path", c.statePath)
	}
	return nil
}

// saveState writes atomically so a crash mid-write keeps the old state.
func saveState(path string, seed hubsim.Seed) error {
	data, err := json.MarshalIndent(seed, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
