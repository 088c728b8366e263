package emulators

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// TestExitedNamesTheEmulatorThatStopped: an emulator that dies under a
// test is reported with how it ended, so the test's "connection refused"
// comes with its cause; one stopped by Close is not.
func TestExitedNamesTheEmulatorThatStopped(t *testing.T) {
	stack := StartT(t)
	if err := stack.Exited(); err != nil {
		t.Fatalf("Exited while both run: %v", err)
	}
	if err := stack.dynamo.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stack.dynamo.done:
	case <-time.After(10 * time.Second):
		t.Fatal("dynalite still running 10s after SIGKILL")
	}
	err := stack.Exited()
	if err == nil || !strings.Contains(err.Error(), "dynalite exited (signal: killed)") || strings.Contains(err.Error(), "fauxqs") {
		t.Fatalf("Exited after dynalite was killed = %v, want dynalite named with its signal", err)
	}
	stack.Close()
	if err := stack.Exited(); err != nil {
		t.Fatalf("Exited after Close = %v, want nil", err)
	}
}

// TestDynaliteSurvivesAClientHangingUp: a client that hangs up half way
// through sending a request (a context cancelled mid-call, a killed
// worker) costs DynamoDB that request, nothing more. dynalite, unguarded,
// throws on it and exits, taking every later test's table with it.
func TestDynaliteSurvivesAClientHangingUp(t *testing.T) {
	stack := StartT(t)
	addr := strings.TrimPrefix(stack.DynamoEndpoint(), "http://")
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// The headers promise a body of 1,000 bytes; a few are sent.
		if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-amz-json-1.0\r\n"+
			"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"Lim"); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		// The next request is served, after the hang-up was.
		if _, err := stack.DynamoDB().ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("ListTables after a client hung up: %v (%v)", err, stack.Exited())
		}
	}
	if err := stack.Exited(); err != nil {
		t.Fatal(err)
	}
}
