package samtemplate

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestParseIntrinsics(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want any
	}{
		{"short Ref", `v: !Ref Table`, Ref("Table")},
		{"long Ref", `v: {Ref: Table}`, Ref("Table")},
		{"Ref of a numeric-looking name stays a string", `v: !Ref 123`, Ref("123")},
		{"short GetAtt dotted", `v: !GetAtt Queue.Arn`, GetAtt("Queue", "Arn")},
		{"short GetAtt list", `v: !GetAtt [Queue, Arn]`, GetAtt("Queue", "Arn")},
		{"long GetAtt", `v: {"Fn::GetAtt": [Queue, Arn]}`, GetAtt("Queue", "Arn")},
		{"Sub string", `v: !Sub "${Table.Arn}/index/*"`, Sub("${Table.Arn}/index/*")},
		{"Sub with variables", "v: !Sub\n  - ${A}-x\n  - A: !Ref B", Intrinsic{Name: "Fn::Sub", Arg: []any{"${A}-x", map[string]any{"A": Ref("B")}}}},
		{"nested Not Equals", `v: !Not [!Equals [!Ref AlarmEmail, ""]]`, Intrinsic{Name: "Fn::Not", Arg: []any{Intrinsic{Name: "Fn::Equals", Arg: []any{Ref("AlarmEmail"), ""}}}}},
		{"If", `v: !If [HasX, a, !Ref "AWS::NoValue"]`, Intrinsic{Name: "Fn::If", Arg: []any{"HasX", "a", Ref("AWS::NoValue")}}},
		{"Select with GetAZs", `v: !Select [0, !GetAZs ""]`, Intrinsic{Name: "Fn::Select", Arg: []any{0, Intrinsic{Name: "Fn::GetAZs", Arg: ""}}}},
		{"Condition", `v: !Condition HasX`, Intrinsic{Name: "Condition", Arg: "HasX"}},
		{"plain int", `v: 360`, 360},
		{"plain bool", `v: true`, true},
		{"quoted string", `v: "2012-10-17"`, "2012-10-17"},
		{"map with two keys is not an intrinsic", `v: {Ref: a, Other: b}`, map[string]any{"Ref": "a", "Other": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse([]byte("Resources: {}\nOutputs:\n  O:\n    Value:\n      " + strings.ReplaceAll(tt.yaml, "\n", "\n      ")))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := tmpl.Outputs["O"].Value.(map[string]any)["v"]
			if !Equal(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"not YAML", "Resources: [", "parse template"},
		{"recursive alias", "Resources: &r {A: *r}", "recursive alias"},
		{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]", "more than"},
		{"duplicate key", "Resources:\n  A: {Type: X}\n  A: {Type: Y}", "duplicate key"},
		{"dead letter queue missing", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: {deadLetterTargetArn: !GetAtt D.Arn, maxReceiveCount: 3}", "not a queue"},
		{"redrive without GetAtt", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: {deadLetterTargetArn: arn:x, maxReceiveCount: 3}", "deadLetterTargetArn"},
		{"table without keys", "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {BillingMode: PAY_PER_REQUEST}", "KeySchema"},
		{"bad timeout", "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Timeout: soon}", "Timeout"},
		{"undefined default authorizer", "Resources:\n  A:\n    Type: AWS::Serverless::HttpApi\n    Properties: {Auth: {DefaultAuthorizer: X}}", "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestGlobalsMerge(t *testing.T) {
	const src = `
Globals:
  Function:
    Timeout: 30
    Layers: [a]
    Environment:
      Variables: {A: global, B: global}
Resources:
  OneFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 60
      Layers: [b]
      Environment:
        Variables: {B: local, C: local}
  TwoFunction:
    Type: AWS::Serverless::Function
    Properties: {}
`
	tmpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	one, two := tmpl.Functions["OneFunction"], tmpl.Functions["TwoFunction"]
	if one.Timeout != time.Minute || two.Timeout != 30*time.Second {
		t.Errorf("timeouts = %v, %v; want local override 1m and global 30s", one.Timeout, two.Timeout)
	}
	if want := map[string]any{"A": "global", "B": "local", "C": "local"}; !Equal(one.Environment, want) {
		t.Errorf("merged environment = %v, want %v", one.Environment, want)
	}
	if want := []any{"a", "b"}; !Equal(one.Properties["Layers"], want) {
		t.Errorf("lists must be additive: got %v, want %v", one.Properties["Layers"], want)
	}
	if two.Dir != "functions/two" {
		t.Errorf("Dir = %q, want functions/two", two.Dir)
	}
}

func TestTableInputIsFreshPerCall(t *testing.T) {
	const src = `
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: "2"}
`
	tmpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := tmpl.Tables["T"].CreateTableInput("one")
	a.KeySchema[0].AttributeName = aws.String("mutated")
	b := tmpl.Tables["T"].CreateTableInput("two")
	if got := aws.ToString(b.KeySchema[0].AttributeName); got != "pk" {
		t.Errorf("second input shares state with the first: key %q", got)
	}
	if aws.ToString(b.TableName) != "two" || aws.ToInt64(b.ProvisionedThroughput.WriteCapacityUnits) != 2 {
		t.Errorf("unexpected input %+v", b)
	}
	if tmpl.Tables["T"].TTLAttribute != "" {
		t.Errorf("TTLAttribute = %q for a table without TTL", tmpl.Tables["T"].TTLAttribute)
	}
}

func TestRatePeriod(t *testing.T) {
	tests := []struct {
		expr    string
		want    time.Duration
		wantErr bool
	}{
		{"rate(1 minute)", time.Minute, false},
		{"rate(5 minutes)", 5 * time.Minute, false},
		{"rate(2 hours)", 2 * time.Hour, false},
		{"rate(1 day)", 24 * time.Hour, false},
		{"cron(0 * * * ? *)", 0, true},
		{"rate(0 minutes)", 0, true},
		{"rate(3 fortnights)", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := Schedule{Expression: tt.expr}.RatePeriod()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("RatePeriod() = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
