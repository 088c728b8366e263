package samtemplate

import (
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts can
// be used without panicking (CreateTableInput relies on Parse's validation).
func FuzzParse(f *testing.F) {
	path, err := Locate(".")
	if err != nil {
		f.Fatal(err)
	}
	real, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte("Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      KeySchema: [{AttributeName: pk, KeyType: HASH}]\n      GlobalSecondaryIndexes: [{IndexName: g, KeySchema: [], Projection: {ProjectionType: ALL}}]\n"))
	f.Add([]byte("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies: [{Statement: {Effect: Allow, Action: x, Resource: !GetAtt A.Arn}}]\n      Events: {E: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}}\n"))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tmpl, err := Parse(data)
		if err != nil {
			return
		}
		for _, tbl := range tmpl.Tables {
			tbl.CreateTableInput("fuzz")
		}
		for _, fn := range tmpl.Functions {
			fn.Statements()
		}
		for _, q := range tmpl.Queues {
			q.Attributes()
		}
		tmpl.Routes()
		tmpl.QueueSubscriptions()
		tmpl.Schedules()
	})
}
