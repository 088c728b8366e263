package emulators

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ErrMotoNotInstalled reports that moto_server is not on PATH.
var ErrMotoNotInstalled = errors.New("moto_server not found on PATH: pip install -r tools/requirements-deploy.txt")

// MotoOptions configure StartMoto. The zero value picks a free port and
// discards moto's output.
type MotoOptions struct {
	// Command is the moto_server executable; default "moto_server" from PATH.
	Command string
	Stdout  io.Writer
	Stderr  io.Writer
	// StartTimeout bounds how long StartMoto waits for readiness; default 30s.
	StartTimeout time.Duration
	// StopTimeout is how long Close waits after SIGTERM before SIGKILL;
	// default 5s.
	StopTimeout time.Duration
}

// Moto is a running moto_server: one endpoint serving, among others,
// CloudFormation, S3, Lambda, IAM, DynamoDB, SQS and KMS, in memory. It is a
// second, independent implementation of the AWS APIs beside dynalite and
// fauxqs, and the only one here with KMS and CloudFormation.
type Moto struct {
	proc        *process
	port        int
	stopTimeout time.Duration
	closeOnce   sync.Once
}

// StartMoto starts moto_server on a loopback port and waits until it answers.
func StartMoto(ctx context.Context, opts MotoOptions) (*Moto, error) {
	if opts.Command == "" {
		opts.Command = "moto_server"
	}
	command, err := exec.LookPath(opts.Command)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrMotoNotInstalled, err)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	proc, port, err := startReady(ctx, "moto_server", 0, func(port int) ([]string, []string) {
		return []string{command, "-H", "127.0.0.1", "-p", fmt.Sprint(port)}, nil
	}, "/moto-api/data.json", opts.Stdout, opts.Stderr)
	if err != nil {
		return nil, err
	}
	return &Moto{proc: proc, port: port, stopTimeout: opts.StopTimeout}, nil
}

// Endpoint is the URL every service is served on (AWS_ENDPOINT_URL).
func (m *Moto) Endpoint() string { return loopbackURL(m.port) }

// Config is an AWS SDK configuration for moto: its endpoint, the emulators'
// region and static credentials (moto accepts any).
func (m *Moto) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(m.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
	}
}

// Close stops moto_server and waits for it. It is safe to call more than once.
func (m *Moto) Close() error {
	m.closeOnce.Do(func() { m.proc.stop(m.stopTimeout) })
	return nil
}
