// Command contactsend-sim runs the Contactsend SOAP simulator as a process,
// for the local stack and demos.
//
//	contactsend-sim [-addr 127.0.0.1:8082] [-seed seed.json] [-state state.json]
//
// The SOAP endpoint is /soap/services (WSDL at /soap/services?wsdl) and the
// admin surface is under /_sim/. With -state, the state is read from that
// file when it exists (instead of the seed) and written back on shutdown.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hubsend/hubsend/internal/simulators/sendsim"
)

func main() {
	if err := run(context.Background(), os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "contactsend-sim:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends or a signal arrives; ready, if not nil, learns
// the address once the listener is open.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet("contactsend-sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8082", "listen address")
	seedPath := fs.String("seed", "", "JSON seed fixture (default: empty simulator)")
	statePath := fs.String("state", "", "state file: loaded at start when present, saved on shutdown")
	idle := fs.Duration("token-idle", sendsim.DefaultTokenIdle, "token idle expiry")
	verbose := fs.Bool("v", false, "log every fault at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	seed, source, err := initialSeed(*seedPath, *statePath)
	if err != nil {
		return err
	}
	sim := sendsim.New(sendsim.Options{Seed: seed, TokenIdle: *idle, Logger: log})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: logRequests(log, sim), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("contactsend simulator listening", "addr", ln.Addr().String(), "endpoint", "http://"+ln.Addr().String()+sendsim.ServicePath, "state", source)

	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown", "error", err)
	}
	if *statePath != "" {
		if err := saveState(*statePath, sim.Snapshot()); err != nil {
			return err
		}
		log.Info("state saved", "path", *statePath)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// initialSeed prefers a saved state over the seed fixture.
func initialSeed(seedPath, statePath string) (sendsim.Seed, string, error) {
	if statePath != "" {
		if _, err := os.Stat(statePath); err == nil {
			seed, err := sendsim.LoadSeed(statePath)
			return seed, statePath, err
		}
	}
	if seedPath == "" {
		return sendsim.Seed{}, "empty", nil
	}
	seed, err := sendsim.LoadSeed(seedPath)
	return seed, seedPath, err
}

// saveState writes atomically, so a crash mid-write keeps the old state.
func saveState(path string, seed sendsim.Seed) error {
	data, err := json.MarshalIndent(seed, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".contactsend-sim-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}
