// Package emulators runs local emulators of the AWS services hubsend uses,
// DynamoDB (dynalite) and SQS (fauxqs), for integration tests and the local
// stack, and creates the table and queues that template.yaml declares in them.
//
// The emulators are the npm packages pinned in the module's package.json;
// `npm ci` at the module root installs them. Each runs as a child process in
// its own process group on a loopback port and speaks the real AWS wire
// protocol, so the production aws-sdk-go-v2 clients work against it unchanged.
// dynalite runs with a guard script (dynalite_guard.cjs) that keeps it up
// when a client hangs up in the middle of a request, as DynamoDB stays up.
package emulators

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

// Region is the region the emulators and clients use.
const Region = "us-east-1"

// Static credentials: the emulators accept any, but the SDK signs every request.
const (
	accessKeyID     = "hubsend-local"
	secretAccessKey = "hubsend-local"
)

// ErrNodeModules reports that the emulators are not installed.
var ErrNodeModules = errors.New("emulators not installed: run `npm ci` at the module root")

// Options configure Start. The zero value picks free ports, keeps DynamoDB in
// memory and discards the emulators' output.
type Options struct {
	// DataDir, when set, makes dynalite keep its data in this directory, so a
	// later Start with the same DataDir sees it again.
	DataDir string
	// DynamoPort and SQSPort fix the loopback ports; 0 picks free ones.
	DynamoPort int
	SQSPort    int
	// Stdout and Stderr receive the emulators' output; nil discards it.
	Stdout io.Writer
	Stderr io.Writer
	// NodeModules is the node_modules directory holding dynalite and fauxqs;
	// default <module root>/node_modules.
	NodeModules string
	// Template is the SAM template the table and queues come from; default
	// <module root>/template.yaml.
	Template string
	// Node is the node executable; default "node" from PATH.
	Node string
	// StartTimeout bounds how long Start waits for readiness; default 30s.
	StartTimeout time.Duration
	// StopTimeout is how long Close waits after SIGTERM before SIGKILL;
	// default 5s.
	StopTimeout time.Duration
}

// Stack is a running pair of emulators. Its methods are safe for concurrent use.
type Stack struct {
	template    *samtemplate.Template
	dynamoPort  int
	sqsPort     int
	stopTimeout time.Duration
	dynamo      *process
	sqs         *process
	guardDir    string // holds dynalite's guard script, removed by Close

	config       aws.Config
	dynamoClient *dynamodb.Client
	sqsClient    *sqs.Client

	seq       atomic.Int64 // unique resource names for NewTableT / NewQueuesT
	closeOnce sync.Once
	closed    atomic.Bool // Close was called: an exit is expected
}

// dynaliteGuard keeps dynalite running when a client hangs up mid-request
// (see the file).
//
//go:embed dynalite_guard.cjs
var dynaliteGuard []byte

// Start starts dynalite and fauxqs and waits until both answer.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.NodeModules == "" || opts.Template == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("emulators: %w", err)
		}
		templatePath, err := samtemplate.Locate(wd)
		if err != nil {
			return nil, fmt.Errorf("emulators: find the module root: %w", err)
		}
		if opts.Template == "" {
			opts.Template = templatePath
		}
		if opts.NodeModules == "" {
			opts.NodeModules = filepath.Join(filepath.Dir(templatePath), "node_modules")
		}
	}
	if opts.Node == "" {
		opts.Node = "node"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}

	dynaliteCLI := filepath.Join(opts.NodeModules, "dynalite", "cli.js")
	fauxqsCLI := filepath.Join(opts.NodeModules, "fauxqs", "dist", "cli.js")
	for _, f := range []string{dynaliteCLI, fauxqsCLI} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("emulators: %w (missing %s)", ErrNodeModules, f)
		}
	}
	tmpl, err := samtemplate.Load(opts.Template)
	if err != nil {
		return nil, fmt.Errorf("emulators: %w", err)
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("emulators: data dir: %w", err)
		}
	}

	guardDir, err := os.MkdirTemp("", "hubsend-dynalite-")
	if err != nil {
		return nil, fmt.Errorf("emulators: %w", err)
	}
	guard := filepath.Join(guardDir, "guard.cjs")
	if err := os.WriteFile(guard, dynaliteGuard, 0o644); err != nil {
		os.RemoveAll(guardDir)
		return nil, fmt.Errorf("emulators: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	s := &Stack{template: tmpl, stopTimeout: opts.StopTimeout, guardDir: guardDir}

	// Start both at once; node start-up dominates the wait.
	type result struct {
		p    *process
		port int
		err  error
	}
	dynamoDone, sqsDone := make(chan result, 1), make(chan result, 1)
	go func() {
		p, port, err := startReady(ctx, "dynalite", opts.DynamoPort, func(port int) ([]string, []string) {
			argv := []string{opts.Node, "--require", guard, dynaliteCLI, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
				"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
			if opts.DataDir != "" {
				argv = append(argv, "--path", opts.DataDir)
			}
			return argv, nil
		}, "/", opts.Stdout, opts.Stderr)
		dynamoDone <- result{p, port, err}
	}()
	go func() {
		p, port, err := startReady(ctx, "fauxqs", opts.SQSPort, func(port int) ([]string, []string) {
			return []string{opts.Node, fauxqsCLI},
				[]string{"FAUXQS_PORT=" + strconv.Itoa(port), "FAUXQS_LOGGER=false", "FAUXQS_DEFAULT_REGION=" + Region}
		}, "/health", opts.Stdout, opts.Stderr)
		sqsDone <- result{p, port, err}
	}()
	d, q := <-dynamoDone, <-sqsDone
	s.dynamo, s.dynamoPort = d.p, d.port
	s.sqs, s.sqsPort = q.p, q.port
	if err := errors.Join(d.err, q.err); err != nil {
		s.Close()
		return nil, fmt.Errorf("emulators: %w", err)
	}

	s.config = aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
	}
	s.dynamoClient = dynamodb.NewFromConfig(s.config, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(s.DynamoEndpoint())
	})
	s.sqsClient = sqs.NewFromConfig(s.config, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(s.SQSEndpoint())
	})
	return s, nil
}

// startReady starts an emulator on port (or a free one when port is 0) and
// waits for url path to answer. With a picked port it retries a few times,
// since the port can be taken between picking and binding.
func startReady(ctx context.Context, name string, port int, command func(port int) (argv, env []string), path string, stdout, stderr io.Writer) (*process, int, error) {
	attempts := 1
	if port == 0 {
		attempts = 4
	}
	var lastErr error
	for range attempts {
		p := port
		if p == 0 {
			var err error
			if p, err = freePort(); err != nil {
				return nil, 0, err
			}
		}
		argv, env := command(p)
		proc, err := startProcess(name, argv, env, stdout, stderr)
		if err != nil {
			return nil, 0, err
		}
		err = proc.waitReady(ctx, loopbackURL(p)+path)
		if err == nil {
			return proc, p, nil
		}
		proc.stop(time.Second)
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, 0, lastErr
}

// Close stops both emulators (SIGTERM to each process group, SIGKILL after
// the stop timeout) and waits for them. It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		var wg sync.WaitGroup
		for _, p := range []*process{s.dynamo, s.sqs} {
			if p == nil {
				continue
			}
			wg.Go(func() { p.stop(s.stopTimeout) })
		}
		wg.Wait()
		os.RemoveAll(s.guardDir)
	})
	return nil
}

// Exited reports an emulator that has stopped although Close was not
// called, with how it ended and the last of its output, or nil while both
// run. A test that meets "connection refused" learns from it why.
func (s *Stack) Exited() error {
	if s.closed.Load() {
		return nil
	}
	var errs []error
	for _, p := range []*process{s.dynamo, s.sqs} {
		select {
		case <-p.done:
			errs = append(errs, fmt.Errorf("%s exited (%v); its last output:\n%s", p.name, p.err, p.tail.String()))
		default:
		}
	}
	return errors.Join(errs...)
}

// DynamoDB returns a client for the DynamoDB emulator.
func (s *Stack) DynamoDB() *dynamodb.Client { return s.dynamoClient }

// SQS returns a client for the SQS emulator.
func (s *Stack) SQS() *sqs.Client { return s.sqsClient }

// AWSConfig returns the region and credentials the emulators accept. It
// carries no endpoint, since the two services have different ones: set
// BaseEndpoint per client from DynamoEndpoint and SQSEndpoint.
func (s *Stack) AWSConfig() aws.Config { return s.config.Copy() }

// DynamoEndpoint returns the DynamoDB emulator's base URL.
func (s *Stack) DynamoEndpoint() string { return loopbackURL(s.dynamoPort) }

// SQSEndpoint returns the SQS emulator's base URL.
func (s *Stack) SQSEndpoint() string { return loopbackURL(s.sqsPort) }

// Env returns environment variables that point an aws-sdk-go-v2 program
// (config.LoadDefaultConfig) at the emulators, for running functions as
// child processes.
func (s *Stack) Env() []string {
	return []string{
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + accessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoEndpoint(),
		"AWS_ENDPOINT_URL_SQS=" + s.SQSEndpoint(),
	}
}

// Template returns the parsed template the stack creates resources from.
func (s *Stack) Template() *samtemplate.Template { return s.template }
