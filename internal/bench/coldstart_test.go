package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/webhook"
)

// moduleRoot is the nearest directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// buildFunction builds a package as Lambda runs it: static, without the
// RPC shim, for this machine's architecture.
func buildFunction(t *testing.T, root, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, output)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rie is one aws-lambda-rie process running one bootstrap.
type rie struct {
	cmd *exec.Cmd
	url string
}

func startRIE(t *testing.T, rieBin, bootstrap string, env []string) (*rie, time.Time) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", addr, "--runtime-api-address", freeAddr(t), bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	r := &rie{cmd: cmd, url: "http://" + addr + "/2015-03-31/functions/function/invocations"}
	t.Cleanup(r.stop)
	return r, start
}

func (r *rie) stop() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// invoke posts one event, retrying while the emulator is not listening
// yet, and fails the test on a function error (which RIE returns as 200
// with errorMessage).
func (r *rie) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post(r.url, "application/json", bytes.NewReader(event))
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("invoke: %v", err)
			}
			time.Sleep(2 * time.Millisecond) // polling a port that is not bound yet
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errorMessage"`)) {
			t.Fatalf("invoke answered %d: %s", resp.StatusCode, body)
		}
		return body
	}
}

// peakRSS is the VmHWM of the bootstrap the emulator started (its child).
func (r *rie) peakRSS(t *testing.T) int64 {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := strconv.Itoa(r.cmd.Process.Pid)
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if f := statFields(string(data)); len(f) > 1 && f[1] == parent {
			status, err := os.ReadFile(filepath.Join(filepath.Dir(path), "status"))
			if err != nil {
				continue
			}
			for line := range strings.Lines(string(status)) {
				if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
					return kb
				}
			}
		}
	}
	t.Fatal("bootstrap process not found under aws-lambda-rie")
	return 0
}

// TestColdStartAndMemory builds each function as Lambda does and runs it
// under aws-lambda-rie, measuring process start to first response next to
// a minimal aws-lambda-go handler, then the sync worker's peak RSS (VmHWM
// of the bootstrap process) over batches of 10 and 100 jobs. It needs
// aws-lambda-rie (tools/bench-coldstart.sh installs it) and runs only with
// HUBSEND_COLDSTART=1.
func TestColdStartAndMemory(t *testing.T) {
	if os.Getenv("HUBSEND_COLDSTART") != "1" {
		t.Skip("set HUBSEND_COLDSTART=1 (tools/bench-coldstart.sh) to measure cold starts")
	}
	rieBin, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		rieBin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "aws-lambda-rie")
		if _, err := os.Stat(rieBin); err != nil {
			t.Fatal("aws-lambda-rie not installed: run tools/bench-coldstart.sh")
		}
	}
	root := moduleRoot(t)
	h := startHarness(t, Options{Customers: 240})
	ctx := t.Context()
	if err := h.Enqueue(ctx, jobs.FromBackfill, h.Customers...); err != nil {
		t.Fatal(err)
	}
	if problems := Eventually(ctx, time.Minute, h.Check); len(problems) > 0 {
		t.Fatalf("backfill: %v", problems)
	}
	h.StopWorker() // the functions under test take the jobs from here on

	bin := t.TempDir()
	functions := []string{"minimal", "configapi", "webhook", "syncworker", "scheduler"}
	for _, name := range functions {
		pkg := "./functions/" + name
		if name == "minimal" {
			pkg = "./internal/bench/testdata/minimal"
		}
		buildFunction(t, root, pkg, filepath.Join(bin, name, "bootstrap"))
	}
	env := append(os.Environ(),
		"TABLE_NAME="+Table, "SYNC_QUEUE_URL="+h.Queues.SyncURL, "SOURCE_TICK_QUEUE_URL="+h.Queues.TickURL,
		"HUBSEND_MASTER_KEY="+base64.StdEncoding.EncodeToString(h.MasterKey),
		"CONTACTSEND_ENDPOINT="+h.Stack.ContactsendURL+"/soap/services",
		"AWS_ENDPOINT_URL_DYNAMODB="+h.DynamoEndpoint(), "AWS_ENDPOINT_URL_SQS="+h.Stack.AWS.SQSEndpoint(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "LOG_LEVEL=ERROR",
		"HUBSEND_ALLOW_INSECURE_HUB=true",
	)
	eventsDir := filepath.Join(root, "events")
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(eventsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	// openapi.json is public and cheap: the config API's first response
	// is then mostly its start.
	var apiEvent events.APIGatewayV2HTTPRequest
	json.Unmarshal(read("configapi-create-source.json"), &apiEvent)
	apiEvent.RouteKey, apiEvent.RawPath, apiEvent.Body = "GET /v1/openapi.json", "/v1/openapi.json", ""
	apiEvent.RequestContext.HTTP.Method, apiEvent.RequestContext.HTTP.Path = "GET", "/v1/openapi.json"
	apiJSON, _ := json.Marshal(apiEvent)
	eventOf := map[string][]byte{
		"minimal":    []byte(`{}`),
		"configapi":  apiJSON,
		"webhook":    read("webhook-contacthub.json"),
		"syncworker": []byte(`{"Records":[]}`),
		"scheduler":  read("scheduler.json"),
	}

	// Rounds interleave the functions so that machine noise hits all alike.
	const rounds = 7
	samples := map[string][]time.Duration{}
	for range rounds {
		for _, name := range functions {
			r, start := startRIE(t, rieBin, filepath.Join(bin, name, "bootstrap"), env)
			r.invoke(t, eventOf[name])
			samples[name] = append(samples[name], time.Since(start))
			r.stop()
		}
	}
	median := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	base := median(samples["minimal"])
	for _, name := range functions {
		info, _ := os.Stat(filepath.Join(bin, name, "bootstrap"))
		m := median(samples[name])
		t.Logf("cold start %-10s median %6.1f ms (min %6.1f, max %6.1f) = %.2fx minimal; %s binary %.1f MB",
			name, ms(m), ms(slices.Min(samples[name])), ms(slices.Max(samples[name])), float64(m)/float64(base),
			runtime.GOARCH, float64(info.Size())/(1<<20))
		if name != "minimal" && float64(m) > 1.5*float64(base) {
			t.Logf("  above the 1.5x target")
		}
	}

	// A warm webhook: the duration Lambda bills for one accepted delivery.
	secret, err := h.Store.RotateWebhookSecret(ctx, devstack.DemoWorkspace, h.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := startRIE(t, rieBin, filepath.Join(bin, "webhook", "bootstrap"), env)
	var warm []time.Duration
	for i := range 21 {
		body := fmt.Sprintf(`{"customerId":%q,"eventType":"customerUpdated","eventId":"warm-%d"}`, h.Customers[i], i)
		var ev events.APIGatewayV2HTTPRequest
		json.Unmarshal(read("webhook-contacthub.json"), &ev)
		path := webhook.PathPrefix + h.SourceID
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.Body, ev.IsBase64Encoded = path, path, body, false
		ev.PathParameters = map[string]string{"sourceId": h.SourceID}
		ev.Headers["content-length"] = strconv.Itoa(len(body))
		ev.Headers["x-hubsend-signature"] = webhook.Sign(secret, []byte(body))
		data, _ := json.Marshal(ev)
		start := time.Now()
		resp := r.invoke(t, data)
		if i > 0 { // the first is the cold start
			warm = append(warm, time.Since(start))
		}
		if !bytes.Contains(resp, []byte(`"statusCode":202`)) {
			t.Fatalf("webhook answered %s", resp)
		}
	}
	t.Logf("webhook warm invoke (accepted delivery) median %.1f ms over %d", ms(median(warm)), len(warm))
	r.stop()

	// Peak memory of the worker: a fresh process per batch size, each
	// job a changed, known customer (the steady path).
	for _, size := range []int{10, 100} {
		r, _ := startRIE(t, rieBin, filepath.Join(bin, "syncworker", "bootstrap"), env)
		r.invoke(t, []byte(`{"Records":[]}`))
		// A first batch warms the caches (source fields, tokens) as the
		// instance's earlier batches would have.
		if err := h.changeAll(ctx, "Warm"+strconv.Itoa(size)); err != nil {
			t.Fatal(err)
		}
		idle := r.peakRSS(t)
		var ev events.SQSEvent
		for i := range size {
			body, _ := jobs.Job{SourceID: h.SourceID, CustomerID: h.Customers[i%len(h.Customers)], Reason: jobs.FromFeed}.Encode()
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("m-", i), Body: body, EventSource: "aws:sqs"})
		}
		data, _ := json.Marshal(ev)
		r.invoke(t, data)
		if err := h.changeAll(ctx, "Memory"+strconv.Itoa(size)); err != nil {
			t.Fatal(err)
		}
		before := h.Stack.Send.Calls().Counts()["updateSubscriber"]
		start := time.Now()
		resp := r.invoke(t, data)
		took := time.Since(start)
		var out events.SQSEventResponse
		json.Unmarshal(resp, &out)
		writes := h.Stack.Send.Calls().Counts()["updateSubscriber"] - before
		t.Logf("syncworker batch of %3d jobs: peak RSS %.1f MB (%.1f MB after the first empty invoke), took %.0f ms, %d updates, %d item failures",
			size, float64(r.peakRSS(t))/1024, float64(idle)/1024, ms(took), writes, len(out.BatchItemFailures))
		r.stop()
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
