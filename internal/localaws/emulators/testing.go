package emulators

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// StartT starts a Stack for a test and stops it when the test and its
// subtests finish. It fails the test if the emulators cannot start.
//
// One stack serves many parallel tests: give each its own table and queues
// with NewTableT and NewQueuesT.
func StartT(t testing.TB) *Stack {
	t.Helper()
	s, err := Start(t.Context(), Options{})
	if err != nil {
		t.Fatalf("start local AWS emulators (dynalite, fauxqs): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewTableT creates a table from the template with a name unique to this
// test on s, deletes it when the test ends, and returns the name.
func NewTableT(t testing.TB, s *Stack) string {
	t.Helper()
	name := s.uniqueName(t)
	if err := s.CreateTable(t.Context(), name); err != nil {
		t.Fatalf("create test table: %v", err)
	}
	t.Cleanup(func() {
		// Best effort: the stack may already be closed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.DynamoDB().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// NewQueuesT creates the template's sync queue and dead-letter queue with a
// prefix unique to this test on s, deletes them when the test ends, and
// returns their URLs.
func NewQueuesT(t testing.TB, s *Stack) Queues {
	t.Helper()
	q, err := s.CreateQueues(t.Context(), s.uniqueName(t))
	if err != nil {
		t.Fatalf("create test queues: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, url := range []string{q.SyncURL, q.DeadLetterURL, q.BulkURL, q.BulkDeadLetterURL} {
			s.SQS().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		}
	})
	return q
}

// uniqueName derives a name valid for both tables and queues (queue names
// allow at most 80 characters, and CreateQueues appends up to 20) from the
// test's name and a per-stack sequence number.
func (s *Stack) uniqueName(t testing.TB) string {
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return "t-" + strings.Trim(b.String(), "-") + "-" + strconv.FormatInt(s.seq.Add(1), 10)
}
