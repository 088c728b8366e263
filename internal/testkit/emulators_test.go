package testkit_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hubsend/hubsend/internal/testkit"
)

// TestEmulatorsAreSharedAndResourcesAreNot: every test of a binary gets the
// one stack, and each its own table and queues on it.
func TestEmulatorsAreSharedAndResourcesAreNot(t *testing.T) {
	t.Parallel()
	testkit.Emulators(t)
	var tables, queues []string
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			if a, b := testkit.Emulators(t), testkit.Emulators(t); a != b {
				t.Fatal("two calls started two stacks")
			}
			tables = append(tables, testkit.Table(t))
			queues = append(queues, testkit.Queues(t).SyncURL)
			stack := testkit.Emulators(t)
			if _, err := stack.DynamoDB().DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(tables[len(tables)-1])}); err != nil {
				t.Fatalf("the test's table: %v", err)
			}
		})
	}
	if tables[0] == tables[1] || queues[0] == queues[1] {
		t.Fatalf("two tests share resources: tables %v, queues %v", tables, queues)
	}
	// The subtests' resources are gone, the stack is not.
	stack := testkit.Emulators(t)
	ctx := context.Background()
	if _, err := stack.DynamoDB().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tables[0])}); err == nil {
		t.Errorf("table %s outlived its test", tables[0])
	}
	if _, err := stack.SQS().ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("the stack stopped with a test: %v", err)
	}
}

// helperEnv makes the test binary, run again by a test of this file, play
// a package's test binary: the value says which part.
const helperEnv = "HUBSEND_TESTKIT_HELPER"

// runHelper runs test of this binary again as a helper in the given mode,
// with extra environment variables, and returns its output.
func runHelper(t *testing.T, test, mode string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWithoutNodeSkipsOutsideCI: on a machine without Node a test that
// needs the emulators is skipped, saying what is missing; with CI=true it
// fails, since CI must run every integration test.
func TestWithoutNodeSkipsOutsideCI(t *testing.T) {
	if os.Getenv(helperEnv) == "no-node" {
		testkit.Emulators(t)
		t.Log("the emulators started without Node")
		return
	}
	t.Parallel()
	for _, tt := range []struct {
		ci      string
		wantErr bool
		want    string
	}{
		{"", false, "--- SKIP"},
		{"false", false, "--- SKIP"},
		{"true", true, "--- FAIL"},
	} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Parallel()
			out, err := runHelper(t, "TestWithoutNodeSkipsOutsideCI", "no-node", "PATH="+t.TempDir(), "CI="+tt.ci)
			if (err != nil) != tt.wantErr || !strings.Contains(out, tt.want) || !strings.Contains(out, "Node is not installed") {
				t.Fatalf("helper without Node, CI=%q: %v, want %s naming Node:\n%s", tt.ci, err, tt.want, out)
			}
			if strings.Contains(out, "started without Node") {
				t.Fatalf("the test went on without emulators:\n%s", out)
			}
		})
	}
}
