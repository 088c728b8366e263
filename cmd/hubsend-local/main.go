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

	"github.com/hubsend/hubsend/internal/console"
	"github.com/hubsend/hubsend/internal/localstack"
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
	opts := localstack.Options{
		ScheduleEvery:   every,
		APIAddr:         envOr("HUBSEND_API_ADDR", "127.0.0.1:8080"),
		ContacthubAddr:  envOr("HUBSEND_CONTACTHUB_ADDR", "127.0.0.1:8081"),
		ContactsendAddr: envOr("HUBSEND_CONTACTSEND_ADDR", "127.0.0.1:8082"),
		DataDir:         *data,
		DemoCustomers:   customers,
		APIToken:        os.Getenv("HUBSEND_API_TOKEN"),
		Console:         console.Assets(),
		Logger:          logger,
	}
	if *verbose {
		opts.EmulatorOutput = os.Stderr
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	stack, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf(`
hubsend is running (ready in %s)

  web console       %s/   (sign in with the API token below)
  config API        %s/v1/sources   (OpenAPI: %s/v1/openapi.json)
  Contacthub sim    %s/hub/v1/workspaces/%s   (admin: %s/_sim/state)
  Contactsend sim   %s/soap/services?wsdl   (admin: %s/_sim/calls)
  DynamoDB          %s   SQS %s

  workspace "%s", API token: %s
  Contactsend demo: apiKey %s  userKey %s  userdb %d

  try: curl -H 'Authorization: Bearer %s' %s/v1/sources

Ctrl-C stops everything%s.
`,
		time.Since(started).Round(time.Millisecond),
		stack.APIURL, stack.APIURL, stack.APIURL,
		stack.ContacthubURL, localstack.DemoHubWorkspace, stack.ContacthubURL,
		stack.ContactsendURL, stack.ContactsendURL,
		stack.AWS.DynamoEndpoint(), stack.AWS.SQSEndpoint(),
		localstack.DemoWorkspace, stack.APIToken,
		localstack.DemoSendAPIKey, localstack.DemoSendUserKey, localstack.DemoUserDB,
		stack.APIToken, stack.APIURL,
		keptWhere(opts.DataDir))
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
