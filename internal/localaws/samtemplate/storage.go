package samtemplate

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Table is an AWS::DynamoDB::Table.
type Table struct {
	LogicalID string
	// TTLAttribute names the expiry attribute when TimeToLiveSpecification is
	// enabled; CreateTable cannot carry it (it takes a separate UpdateTimeToLive).
	TTLAttribute   string
	DeletionPolicy string
	Properties     map[string]any
}

func newTable(r Resource) (Table, error) {
	t := Table{LogicalID: r.LogicalID, DeletionPolicy: r.DeletionPolicy, Properties: r.Properties}
	ttl, err := asMap(r.Properties["TimeToLiveSpecification"], "TimeToLiveSpecification")
	if err != nil {
		return t, err
	}
	enabled, err := asBool(ttl["Enabled"], "TimeToLiveSpecification.Enabled")
	if err != nil {
		return t, err
	}
	if enabled {
		if t.TTLAttribute, err = asString(ttl["AttributeName"], "TimeToLiveSpecification.AttributeName"); err != nil {
			return t, err
		}
	}
	// Validate now so CreateTableInput cannot fail later.
	if _, err := buildCreateTableInput(r.Properties, "validate"); err != nil {
		return t, err
	}
	return t, nil
}

// CreateTableInput returns a fresh CreateTable request for this table named
// name: attribute definitions, key schema, indexes and billing mode.
func (t Table) CreateTableInput(name string) *dynamodb.CreateTableInput {
	in, err := buildCreateTableInput(t.Properties, name)
	if err != nil {
		// Unreachable: Parse validated the same properties.
		panic(fmt.Sprintf("samtemplate: table %s: %v", t.LogicalID, err))
	}
	return in
}

func buildCreateTableInput(p map[string]any, name string) (*dynamodb.CreateTableInput, error) {
	in := &dynamodb.CreateTableInput{TableName: aws.String(name)}
	billing, err := asString(p["BillingMode"], "BillingMode")
	if err != nil {
		return nil, err
	}
	if billing != "" {
		in.BillingMode = types.BillingMode(billing)
	}

	attrs, err := asList(p["AttributeDefinitions"], "AttributeDefinitions")
	if err != nil {
		return nil, err
	}
	for i, v := range attrs {
		what := fmt.Sprintf("AttributeDefinitions[%d]", i)
		a, err := asMap(v, what)
		if err != nil {
			return nil, err
		}
		attrName, err := asString(a["AttributeName"], what+".AttributeName")
		if err != nil {
			return nil, err
		}
		attrType, err := asString(a["AttributeType"], what+".AttributeType")
		if err != nil {
			return nil, err
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(attrName),
			AttributeType: types.ScalarAttributeType(attrType),
		})
	}

	if in.KeySchema, err = keySchema(p["KeySchema"], "KeySchema"); err != nil {
		return nil, err
	}
	if len(in.KeySchema) == 0 {
		return nil, fmt.Errorf("KeySchema: missing")
	}
	if in.ProvisionedThroughput, err = throughput(p["ProvisionedThroughput"], "ProvisionedThroughput"); err != nil {
		return nil, err
	}

	gsis, err := asList(p["GlobalSecondaryIndexes"], "GlobalSecondaryIndexes")
	if err != nil {
		return nil, err
	}
	for i, v := range gsis {
		what := fmt.Sprintf("GlobalSecondaryIndexes[%d]", i)
		name, keys, proj, idx, err := index(v, what)
		if err != nil {
			return nil, err
		}
		pt, err := throughput(idx["ProvisionedThroughput"], what+".ProvisionedThroughput")
		if err != nil {
			return nil, err
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: keys, Projection: proj, ProvisionedThroughput: pt,
		})
	}

	lsis, err := asList(p["LocalSecondaryIndexes"], "LocalSecondaryIndexes")
	if err != nil {
		return nil, err
	}
	for i, v := range lsis {
		name, keys, proj, _, err := index(v, fmt.Sprintf("LocalSecondaryIndexes[%d]", i))
		if err != nil {
			return nil, err
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: keys, Projection: proj,
		})
	}
	return in, nil
}

func index(v any, what string) (string, []types.KeySchemaElement, *types.Projection, map[string]any, error) {
	idx, err := asMap(v, what)
	if err != nil {
		return "", nil, nil, nil, err
	}
	name, err := asString(idx["IndexName"], what+".IndexName")
	if err != nil {
		return "", nil, nil, nil, err
	}
	keys, err := keySchema(idx["KeySchema"], what+".KeySchema")
	if err != nil {
		return "", nil, nil, nil, err
	}
	proj, err := asMap(idx["Projection"], what+".Projection")
	if err != nil {
		return "", nil, nil, nil, err
	}
	projType, err := asString(proj["ProjectionType"], what+".Projection.ProjectionType")
	if err != nil {
		return "", nil, nil, nil, err
	}
	nonKey, err := asStrings(proj["NonKeyAttributes"], what+".Projection.NonKeyAttributes")
	if err != nil {
		return "", nil, nil, nil, err
	}
	return name, keys, &types.Projection{ProjectionType: types.ProjectionType(projType), NonKeyAttributes: nonKey}, idx, nil
}

func keySchema(v any, what string) ([]types.KeySchemaElement, error) {
	list, err := asList(v, what)
	if err != nil {
		return nil, err
	}
	var out []types.KeySchemaElement
	for i, e := range list {
		w := fmt.Sprintf("%s[%d]", what, i)
		k, err := asMap(e, w)
		if err != nil {
			return nil, err
		}
		name, err := asString(k["AttributeName"], w+".AttributeName")
		if err != nil {
			return nil, err
		}
		typ, err := asString(k["KeyType"], w+".KeyType")
		if err != nil {
			return nil, err
		}
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(name), KeyType: types.KeyType(typ)})
	}
	return out, nil
}

func throughput(v any, what string) (*types.ProvisionedThroughput, error) {
	m, err := asMap(v, what)
	if err != nil || m == nil {
		return nil, err
	}
	read, err := asInt(m["ReadCapacityUnits"], what+".ReadCapacityUnits")
	if err != nil {
		return nil, err
	}
	write, err := asInt(m["WriteCapacityUnits"], what+".WriteCapacityUnits")
	if err != nil {
		return nil, err
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(int64(read)), WriteCapacityUnits: aws.Int64(int64(write))}, nil
}

// Queue is an AWS::SQS::Queue.
type Queue struct {
	LogicalID              string
	FIFO                   bool
	VisibilityTimeout      int // seconds; 0 when the template leaves the SQS default
	MessageRetentionPeriod int // seconds; 0 when the template leaves the SQS default
	// DeadLetterQueue is the logical id of the RedrivePolicy target, "" for none.
	DeadLetterQueue string
	MaxReceiveCount int
	Properties      map[string]any
}

// queueAttributes are the template properties that map one to one onto
// SQS CreateQueue attributes.
var queueAttributes = []string{
	"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
	"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout",
}

func newQueue(r Resource) (Queue, error) {
	q := Queue{LogicalID: r.LogicalID, Properties: r.Properties}
	var err error
	if q.FIFO, err = asBool(r.Properties["FifoQueue"], "FifoQueue"); err != nil {
		return q, err
	}
	if q.VisibilityTimeout, err = asInt(r.Properties["VisibilityTimeout"], "VisibilityTimeout"); err != nil {
		return q, err
	}
	if q.MessageRetentionPeriod, err = asInt(r.Properties["MessageRetentionPeriod"], "MessageRetentionPeriod"); err != nil {
		return q, err
	}
	for _, name := range queueAttributes {
		if _, err := asInt(r.Properties[name], name); err != nil {
			return q, err
		}
	}
	redrive, err := asMap(r.Properties["RedrivePolicy"], "RedrivePolicy")
	if err != nil {
		return q, err
	}
	if redrive != nil {
		target, attr, ok := GetAttTarget(redrive["deadLetterTargetArn"])
		if !ok || attr != "Arn" {
			return q, fmt.Errorf("RedrivePolicy.deadLetterTargetArn: want !GetAtt <queue>.Arn, got %v", redrive["deadLetterTargetArn"])
		}
		q.DeadLetterQueue = target
		if q.MaxReceiveCount, err = asInt(redrive["maxReceiveCount"], "RedrivePolicy.maxReceiveCount"); err != nil {
			return q, err
		}
		if q.MaxReceiveCount <= 0 {
			return q, fmt.Errorf("RedrivePolicy.maxReceiveCount: want a positive count, got %d", q.MaxReceiveCount)
		}
	}
	return q, nil
}

// Attributes returns the SQS CreateQueue attributes the template sets
// directly (timeouts, retention, sizes, FIFO). The RedrivePolicy is left out:
// it needs the dead-letter queue's ARN, which only exists once that queue does.
func (q Queue) Attributes() map[string]string {
	out := map[string]string{}
	for _, name := range queueAttributes {
		if n, _ := asInt(q.Properties[name], name); q.Properties[name] != nil {
			out[name] = strconv.Itoa(n)
		}
	}
	if q.FIFO {
		out["FifoQueue"] = "true"
	}
	return out
}

// RedrivePolicy returns the SQS RedrivePolicy attribute value for this queue
// given its dead-letter queue's ARN.
func (q Queue) RedrivePolicy(deadLetterARN string) string {
	b, _ := json.Marshal(struct {
		DeadLetterTargetARN string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{deadLetterARN, q.MaxReceiveCount})
	return string(b)
}
