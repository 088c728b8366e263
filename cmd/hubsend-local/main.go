// Command hubsend-local runs the whole of hubsend on this machine: the
// DynamoDB and SQS emulators, the Contacthub and Contactsend simulators with
// a demo workspace, and hubsend's functions behind a local API gateway.
// `make run` starts it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hubsend-local:", err)
		os.Exit(1)
	}
}

func run() error {
	data := flag.String("data", os.Getenv("HUBSEND_DATA"), "keep state in this directory across restarts (env HUBSEND_DATA); empty keeps nothing")
	verbose := flag.Bool("v", false, "log every request and the emulators' output")
	latency := flag.Bool("latency", os.Getenv("HUBSEND_LATENCY_PROFILE") == "1",
		"give every simulator call a realistic service time (env HUBSEND_LATENCY_PROFILE=1); off by default")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(*verbose)}))
	customers := 1000
	if v := os.Getenv("HUBSEND_DEMO_CUSTOMERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("HUBSEND_DEMO_CUSTOMERS must be a number of customers, got %q", v)
		}
		customers = n
	}
	var every time.Duration
	if v := os.Getenv("HUBSEND_SCHEDULE_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("HUBSEND_SCHEDULE_EVERY must be a duration such as 10s, got %q", v)
		}
		every = d
	}
	opts := devstack.Options{
		ScheduleEvery:   every,
		LatencyProfile:  *latency,
		APIAddr:         envOr("HUBSEND_API_ADDR", "127.0.0.1:8080"),
		OIDCAddr:        envOr("HUBSEND_OIDC_ADDR", "127.0.0.1:8083"),
		ContacthubAddr:  envOr("HUBSEND_CONTACTHUB_ADDR", "127.0.0.1:8081"),
		ContactsendAddr: envOr("HUBSEND_CONTACTSEND_ADDR", "127.0.0.1:8082"),
		DataDir:         *data,
		DemoCustomers:   customers,
		Logger:          logger,
	}
	if *verbose {
		opts.EmulatorOutput = os.Stderr
	}
	if err := realServices(&opts); err != nil {
		return err
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	stack, err := devstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	ready := time.Since(started)
	show := func() { printBanner(os.Stdout, stack, opts, ready) }
	show()
	// The banner scrolls away under warnings; Enter or SIGUSR1 shows it again.
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGUSR1)
	defer signal.Stop(again)
	go repeatOnDemand(ctx, os.Stdin, again, show)
	<-ctx.Done()
	fmt.Println("\nstopping…")
	return stack.Close()
}

// logLevel is what make run logs: without -v only warnings and errors,
// which a person must act on; with -v also every request, tick and job.
func logLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// printBanner says where everything runs and how to sign in. It is short,
// and printed again on demand, so the console's address and how to get a
// token are never further away than a key press.
func printBanner(w io.Writer, stack *devstack.Stack, opts devstack.Options, ready time.Duration) {
	fmt.Fprintf(w, "\nhubsend is running (ready in %s)\n\n", ready.Round(time.Millisecond))
	fmt.Fprintf(w, "  web console       %s/   (sign in as admin or viewer)\n", stack.APIURL)
	fmt.Fprintf(w, "  config API        %s/v1/sources   (OpenAPI: %s/v1/openapi.json)\n", stack.APIURL, stack.APIURL)
	if stack.Hub != nil {
		fmt.Fprintf(w, "  Contacthub sim    %s/hub/v1/workspaces/%s   (token %s; admin: %s/_sim/state)\n", stack.ContacthubURL, devstack.DemoHubWorkspace, devstack.DemoHubToken, stack.ContacthubURL)
	} else {
		fmt.Fprintf(w, "  Contacthub        %s (real)\n", stack.ContacthubURL)
	}
	if stack.Send != nil {
		fmt.Fprintf(w, "  Contactsend sim   %s/soap/services?wsdl   (admin: %s/_sim/calls)\n", stack.ContactsendURL, stack.ContactsendURL)
		fmt.Fprintf(w, "                    demo apiKey %s  userKey %s  userdb %d\n", devstack.DemoSendAPIKey, devstack.DemoSendUserKey, devstack.DemoUserDB)
	} else {
		fmt.Fprintf(w, "  Contactsend       %s (real)\n", opts.ContactsendEndpoint)
	}
	if stack.AWS != nil {
		fmt.Fprintf(w, "  DynamoDB          %s   SQS %s (emulators)\n", stack.AWS.DynamoEndpoint(), stack.AWS.SQSEndpoint())
	} else {
		fmt.Fprintf(w, "  AWS               table %s, queue %s (real)\n", stack.Table, stack.Queues.SyncURL)
	}
	fmt.Fprintf(w, "  identity provider %s   (OpenID Connect; users admin, viewer)\n", stack.IssuerURL)
	fmt.Fprintf(w, "\n  workspace %q; a token for curl (user=admin or user=viewer, valid 1 h):\n", devstack.DemoWorkspace)
	fmt.Fprintf(w, "    TOKEN=$(curl -s '%s/demo-token?user=admin')\n", stack.IssuerURL)
	fmt.Fprintf(w, "    curl -H \"Authorization: Bearer $TOKEN\" %s/v1/sources\n\n", stack.APIURL)
	fmt.Fprintf(w, "Ctrl-C stops everything%s.\n", keptWhere(opts.DataDir))
	fmt.Fprintf(w, "Press Enter (or kill -USR1 %d) to show this again; -v logs every request.\n", os.Getpid())
}

// repeatOnDemand calls show for every line read from in and every value
// from again, until ctx ends. A closed or unreadable in (no terminal) only
// leaves the signal.
func repeatOnDemand(ctx context.Context, in io.Reader, again <-chan os.Signal, show func()) {
	lines := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(in)
		for scanner.Scan() {
			select {
			case lines <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lines:
			show()
		case <-again:
			show()
		}
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func keptWhere(dir string) string {
	if dir == "" {
		return " (state is not kept: pass --data DIR to keep it)"
	}
	return "; state is kept in " + dir
}

// realServices points the stack at real services where the environment
// says so: a Contacthub workspace, a Contactsend endpoint, a deployed AWS
// stack. Each left unset keeps its simulator or emulator.
func realServices(opts *devstack.Options) error {
	if url := os.Getenv("HUBSEND_CONTACTHUB_URL"); url != "" {
		opts.Contacthub = &devstack.Contacthub{
			BaseURL: url, WorkspaceID: os.Getenv("HUBSEND_CONTACTHUB_WORKSPACE"), Token: os.Getenv("HUBSEND_CONTACTHUB_TOKEN"),
		}
		if opts.Contacthub.WorkspaceID == "" || opts.Contacthub.Token == "" {
			return fmt.Errorf("HUBSEND_CONTACTHUB_URL needs HUBSEND_CONTACTHUB_WORKSPACE and HUBSEND_CONTACTHUB_TOKEN")
		}
	}
	opts.ContactsendEndpoint = os.Getenv("HUBSEND_CONTACTSEND_ENDPOINT")
	if os.Getenv("HUBSEND_AWS") == "1" {
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			return fmt.Errorf("load AWS configuration: %w", err)
		}
		opts.AWS = &devstack.RealAWS{
			Config: cfg, Table: os.Getenv("HUBSEND_TABLE_NAME"),
			SyncQueueURL: os.Getenv("HUBSEND_SYNC_QUEUE_URL"), KMSKeyID: os.Getenv("HUBSEND_KMS_KEY_ID"),
			BulkQueueURL: os.Getenv("HUBSEND_BULK_QUEUE_URL"),
		}
		if opts.AWS.Table == "" || opts.AWS.SyncQueueURL == "" || opts.AWS.KMSKeyID == "" {
			return fmt.Errorf("HUBSEND_AWS=1 needs HUBSEND_TABLE_NAME, HUBSEND_SYNC_QUEUE_URL and HUBSEND_KMS_KEY_ID (the deployed stack's outputs)")
		}
	}
	return nil
}
