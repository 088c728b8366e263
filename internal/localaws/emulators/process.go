package emulators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// errExited reports that an emulator process ended before it became ready,
// typically because another process took its port first.
var errExited = errors.New("process exited before it was ready")

// process is one emulator running as a child in its own process group, so
// that stopping it also stops anything it spawned.
type process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer
	done chan struct{} // closed once the process has been waited for
	err  error         // the Wait result, valid after done is closed
}

// startProcess starts argv with extra environment variables; its output goes
// to stdout/stderr (when non-nil) and to a small buffer quoted in errors.
func startProcess(name string, argv []string, env []string, stdout, stderr io.Writer) (*process, error) {
	p := &process{name: name, tail: &tailBuffer{max: 4096}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(p.cmd.Environ(), env...)
	p.cmd.Stdout = withTail(stdout, p.tail)
	p.cmd.Stderr = withTail(stderr, p.tail)
	p.cmd.SysProcAttr = processGroupAttr()
	// Output copying must not outlive the process by much if something
	// inherited its pipes.
	p.cmd.WaitDelay = time.Second
	started := make(chan error, 1)
	go func() {
		// Linux sends the Pdeathsig that stops an orphaned emulator when
		// the thread that started it ends, not the process (golang/go#27505),
		// and a thread ends when any goroutine exits locked to it. Keeping
		// the starting goroutine locked to its thread until the child exits
		// leaves that thread to nobody else.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

func withTail(w io.Writer, tail *tailBuffer) io.Writer {
	if w == nil {
		return tail
	}
	return io.MultiWriter(w, tail)
}

// waitReady polls url until it answers 200, the process exits, or ctx ends.
func (p *process) waitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s readiness: %w", p.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s: %w (%v); output:\n%s", p.name, errExited, p.err, p.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; output:\n%s", p.name, url, ctx.Err(), p.tail.String())
		case <-tick.C:
		}
	}
}

// stop asks the process group to terminate, escalates to SIGKILL after
// grace, and waits for the process.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	signalGroup(p.cmd.Process.Pid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before the emulator binds it; Start retries when that happens.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loopbackURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
