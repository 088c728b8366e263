// Command hubsend-local runs the whole of hubsend on this machine: the
// DynamoDB and SQS emulators, the Contacthub and Contactsend simulators with
// a demo workspace, and hubsend's functions behind a local API gateway.
// `make run` starts it.
package main

import (
	"context"
	"flag"
	"fmt"
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

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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
		ContacthubAddr:  envOr("HUBSEND_CONTACTHUB_ADDR", "127.0.0.1:8081"),
		ContactsendAddr: envOr("HUBSEND_CONTACTSEND_ADDR", "127.0.0.1:8082"),
		DataDir:         *data,
		DemoCustomers:   customers,
		APIToken:        os.Getenv("HUBSEND_API_TOKEN"),
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
	fmt.Printf("\nhubsend is running (ready in %s)\n\n", time.Since(started).Round(time.Millisecond))
	fmt.Printf("  web console       %s/   (sign in with the API token below)\n", stack.APIURL)
	fmt.Printf("  config API        %s/v1/sources   (OpenAPI: %s/v1/openapi.json)\n", stack.APIURL, stack.APIURL)
	if stack.Hub != nil {
		fmt.Printf("  Contacthub sim    %s/hub/v1/workspaces/%s   (token %s; admin: %s/_sim/state)\n", stack.ContacthubURL, devstack.DemoHubWorkspace, devstack.DemoHubToken, stack.ContacthubURL)
	} else {
		fmt.Printf("  Contacthub        %s (real)\n", stack.ContacthubURL)
	}
	if stack.Send != nil {
		fmt.Printf("  Contactsend sim   %s/soap/services?wsdl   (admin: %s/_sim/calls)\n", stack.ContactsendURL, stack.ContactsendURL)
		fmt.Printf("                    demo apiKey %s  userKey %s  userdb %d\n", devstack.DemoSendAPIKey, devstack.DemoSendUserKey, devstack.DemoUserDB)
	} else {
		fmt.Printf("  Contactsend       %s (real)\n", opts.ContactsendEndpoint)
	}
	if stack.AWS != nil {
		fmt.Printf("  DynamoDB          %s   SQS %s (emulators)\n", stack.AWS.DynamoEndpoint(), stack.AWS.SQSEndpoint())
	} else {
		fmt.Printf("  AWS               table %s, queue %s (real)\n", stack.Table, stack.Queues.SyncURL)
	}
	fmt.Printf("\n  workspace %q, API token: %s\n", devstack.DemoWorkspace, stack.APIToken)
	fmt.Printf("  try: curl -H 'Authorization: Bearer %s' %s/v1/sources\n\n", stack.APIToken, stack.APIURL)
	fmt.Printf("Ctrl-C stops everything%s.\n", keptWhere(opts.DataDir))
	<-ctx.Done()
	fmt.Println("\nstopping…")
	return stack.Close()
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
