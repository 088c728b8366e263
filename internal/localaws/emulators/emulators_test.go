package emulators_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hubsend/hubsend/internal/localaws/emulators"
)

// TestStack runs the DynamoDB and SQS checks as parallel subtests sharing one
// stack, the way other packages' integration tests use it.
func TestStack(t *testing.T) {
	stack := emulators.StartT(t)
	for _, tt := range []struct {
		name string
		test func(*testing.T, *emulators.Stack)
	}{
		{"conditional put race has one winner", testConditionalPutRace},
		{"query gsi1", testQueryIndex},
		{"create table is idempotent", testCreateTableIdempotent},
		{"send receive delete", testSendReceiveDelete},
		{"redrive to dead-letter queue", testRedrive},
		{"queue attributes come from the template", testQueueAttributes},
		{"tick queue is FIFO by source", testTickQueueFIFO},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, stack)
		})
	}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func testConditionalPutRace(t *testing.T, stack *emulators.Stack) {
	table := emulators.NewTableT(t, stack)
	db := stack.DynamoDB()
	const rounds, contenders = 5, 20
	for round := range rounds {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
			others  []error
		)
		for c := range contenders {
			wg.Go(func() {
				_, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{
					TableName: aws.String(table),
					Item: map[string]types.AttributeValue{
						"pk":    str(fmt.Sprintf("guard#%d", round)),
						"sk":    str("owner"),
						"owner": str(strconv.Itoa(c)),
					},
					ConditionExpression: aws.String("attribute_not_exists(pk)"),
				})
				var failed *types.ConditionalCheckFailedException
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, c)
				case !errors.As(err, &failed):
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("round %d: unexpected errors: %v", round, errors.Join(others...))
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
		}
		got, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{
			TableName:      aws.String(table),
			Key:            map[string]types.AttributeValue{"pk": str(fmt.Sprintf("guard#%d", round)), "sk": str("owner")},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		if owner := got.Item["owner"].(*types.AttributeValueMemberS).Value; owner != strconv.Itoa(winners[0]) {
			t.Errorf("round %d: stored owner %s, winner %d", round, owner, winners[0])
		}
	}
}

func testQueryIndex(t *testing.T, stack *emulators.Stack) {
	table := emulators.NewTableT(t, stack)
	db := stack.DynamoDB()
	items := []struct{ pk, gsi1pk, gsi1sk string }{
		{"source#a", "node#1", "2026-01-03"},
		{"source#b", "node#1", "2026-01-01"},
		{"source#c", "node#2", "2026-01-02"},
		{"source#d", "node#1", "2026-01-02"},
	}
	for _, it := range items {
		_, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{
			TableName: aws.String(table),
			Item: map[string]types.AttributeValue{
				"pk": str(it.pk), "sk": str("meta"), "gsi1pk": str(it.gsi1pk), "gsi1sk": str(it.gsi1sk),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := db.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p AND gsi1sk >= :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("node#1"), ":from": str("2026-01-02")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, item := range out.Items {
		got = append(got, item["pk"].(*types.AttributeValueMemberS).Value)
	}
	if want := []string{"source#d", "source#a"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("query gsi1 = %v, want %v (sorted by gsi1sk)", got, want)
	}
}

func testCreateTableIdempotent(t *testing.T, stack *emulators.Stack) {
	table := emulators.NewTableT(t, stack)
	if err := stack.CreateTable(t.Context(), table); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	out, err := stack.DynamoDB().DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.TableStatus != types.TableStatusActive || len(d.GlobalSecondaryIndexes) != 3 {
		t.Errorf("table %s: status %s, indexes %d", table, d.TableStatus, len(d.GlobalSecondaryIndexes))
	}
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
}

// receiveOne long-polls url until a message arrives or the deadline passes.
func receiveOne(t *testing.T, client *sqs.Client, url string, deadline time.Duration) sqstypes.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         1,
			WaitTimeSeconds:             1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if ctx.Err() != nil {
			t.Fatalf("no message on %s within %v", url, deadline)
		}
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) > 0 {
			return out.Messages[0]
		}
	}
}

func testSendReceiveDelete(t *testing.T, stack *emulators.Stack) {
	q := emulators.NewQueuesT(t, stack)
	client := stack.SQS()
	body := `{"sourceId":"s1","customerId":"c1","reason":"webhook"}`
	sent, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.SyncURL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	msg := receiveOne(t, client, q.SyncURL, 10*time.Second)
	if aws.ToString(msg.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(msg.Body) != body {
		t.Errorf("received %s %q, want %s %q", aws.ToString(msg.MessageId), aws.ToString(msg.Body), aws.ToString(sent.MessageId), body)
	}
	if _, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q.SyncURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	names := []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}
	attrs, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.SyncURL), AttributeNames: names})
	if err != nil {
		t.Fatal(err)
	}
	// Check each requested name: ranging over the answer would pass on an
	// empty one.
	for _, name := range names {
		if v := attrs.Attributes[string(name)]; v != "0" {
			t.Errorf("after delete %s = %q, want 0", name, v)
		}
	}
}

func testRedrive(t *testing.T, stack *emulators.Stack) {
	q := emulators.NewQueuesT(t, stack)
	client := stack.SQS()
	maxReceives := stack.Template().Queues[emulators.SyncQueueID].MaxReceiveCount
	if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.SyncURL), MessageBody: aws.String("poison")}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= maxReceives; want++ {
		msg := receiveOne(t, client, q.SyncURL, 10*time.Second)
		if got := msg.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]; got != strconv.Itoa(want) {
			t.Fatalf("receive %d: ApproximateReceiveCount = %s", want, got)
		}
		// A failing worker's message becomes visible again when its
		// visibility timeout ends; shorten that to now rather than wait 360 s.
		if _, err := client.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(q.SyncURL), ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The next receive moves it to the dead-letter queue instead of delivering it.
	out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.SyncURL), WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 0 {
		t.Fatalf("message delivered a %d. time, want it moved to the DLQ", maxReceives+1)
	}
	dead := receiveOne(t, client, q.DeadLetterURL, 10*time.Second)
	if aws.ToString(dead.Body) != "poison" {
		t.Errorf("DLQ body = %q", aws.ToString(dead.Body))
	}
}

func testQueueAttributes(t *testing.T, stack *emulators.Stack) {
	q := emulators.NewQueuesT(t, stack)
	tests := []struct {
		url  string
		name sqstypes.QueueAttributeName
		want string
	}{
		{q.SyncURL, sqstypes.QueueAttributeNameVisibilityTimeout, "360"},
		{q.SyncURL, sqstypes.QueueAttributeNameMessageRetentionPeriod, "1209600"},
		{q.DeadLetterURL, sqstypes.QueueAttributeNameMessageRetentionPeriod, "1209600"},
		{q.BulkURL, sqstypes.QueueAttributeNameVisibilityTimeout, "1800"},
		{q.BulkURL, sqstypes.QueueAttributeNameMessageRetentionPeriod, "1209600"},
		{q.BulkDeadLetterURL, sqstypes.QueueAttributeNameMessageRetentionPeriod, "1209600"},
	}
	for _, tt := range tests {
		out, err := stack.SQS().GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(tt.url), AttributeNames: []sqstypes.QueueAttributeName{tt.name},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Attributes[string(tt.name)]; got != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.url, tt.name, got, tt.want)
		}
	}
	// Idempotent, as SQS CreateQueue is for identical attributes.
	prefixQueues, err := stack.CreateQueues(t.Context(), "idempotent")
	if err != nil {
		t.Fatal(err)
	}
	again, err := stack.CreateQueues(t.Context(), "idempotent")
	if err != nil || again != prefixQueues {
		t.Errorf("second CreateQueues = %+v, %v; want %+v", again, err, prefixQueues)
	}
}

// TestDataDirSurvivesRestart stops dynalite and starts it again, on the same
// fixed ports, over the same data directory.
func TestDataDirSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := emulators.Start(t.Context(), emulators.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	const table = "persisted"
	if err := first.CreateTable(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"pk": str("workspace#demo"), "sk": str("meta")}
	item := map[string]types.AttributeValue{"pk": key["pk"], "sk": key["sk"], "name": str("Demo")}
	if _, err := first.DynamoDB().PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	endpoint := first.DynamoEndpoint()
	port, _ := strconv.Atoi(endpoint[len("http://127.0.0.1:"):])
	first.Close()
	if _, err := http.Get(endpoint); err == nil {
		t.Fatalf("dynalite still answers at %s after Close", endpoint)
	}

	second, err := emulators.Start(t.Context(), emulators.Options{DataDir: dir, DynamoPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if second.DynamoEndpoint() != endpoint {
		t.Errorf("fixed port not honoured: %s, want %s", second.DynamoEndpoint(), endpoint)
	}
	if err := second.CreateTable(t.Context(), table); err != nil {
		t.Fatalf("CreateTable over an existing table: %v", err)
	}
	got, err := second.DynamoDB().GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := got.Item["name"].(*types.AttributeValueMemberS); !ok || name.Value != "Demo" {
		t.Errorf("after restart item = %v, want name Demo", got.Item)
	}
}

func TestMissingNodeModules(t *testing.T) {
	t.Parallel()
	_, err := emulators.Start(t.Context(), emulators.Options{NodeModules: t.TempDir()})
	if !errors.Is(err, emulators.ErrNodeModules) {
		t.Fatalf("Start without emulators = %v, want ErrNodeModules", err)
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	stack := emulators.StartT(t)
	env := map[string]bool{}
	for _, kv := range stack.Env() {
		env[kv] = true
	}
	for _, want := range []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + stack.DynamoEndpoint(),
		"AWS_ENDPOINT_URL_SQS=" + stack.SQSEndpoint(),
		"AWS_REGION=" + emulators.Region,
	} {
		if !env[want] {
			t.Errorf("Env() lacks %s", want)
		}
	}
	if cfg := stack.AWSConfig(); cfg.Region != emulators.Region || cfg.Credentials == nil {
		t.Errorf("AWSConfig() = region %q credentials %v", cfg.Region, cfg.Credentials)
	}
}

// testTickQueueFIFO: the source tick queue delivers a source's next tick
// only once the one in flight is done, and drops a tick sent again with
// the same deduplication id, as SQS FIFO queues do.
func testTickQueueFIFO(t *testing.T, stack *emulators.Stack) {
	q := emulators.NewQueuesT(t, stack)
	client := stack.SQS()
	send := func(group, dedupe string) {
		t.Helper()
		_, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{
			QueueUrl: aws.String(q.TickURL), MessageBody: aws.String(group + "/" + dedupe),
			MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedupe),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	send("s1", "minute-1")
	send("s1", "minute-1") // the same scheduled tick again
	send("s1", "minute-2")
	first := receiveOne(t, client, q.TickURL, 10*time.Second)
	if aws.ToString(first.Body) != "s1/minute-1" {
		t.Fatalf("first tick %q, want s1/minute-1", aws.ToString(first.Body))
	}
	out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.TickURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 0 {
		t.Fatalf("while s1's tick is in flight the queue delivered %d more", len(out.Messages))
	}
	if _, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(q.TickURL), ReceiptHandle: first.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if next := receiveOne(t, client, q.TickURL, 10*time.Second); aws.ToString(next.Body) != "s1/minute-2" {
		t.Fatalf("next tick %q, want s1/minute-2 (the repeated minute-1 dropped)", aws.ToString(next.Body))
	}
}
