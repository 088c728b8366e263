package testkit_test

import (
	"context"
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
