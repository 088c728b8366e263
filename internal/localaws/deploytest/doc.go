// Package deploytest deploys template.yaml, as `sam deploy` would, into moto
// (an open-source implementation of the AWS APIs, CloudFormation included)
// and runs the local stack against the resources CloudFormation created
// there: DynamoDB, SQS and KMS.
//
// It proves what the emulator tests cannot: that the template transforms
// and creates, that the table, queues and key it declares are the ones the
// code needs, and that secrets seal and open through a real KMS API with
// their encryption contexts. It needs Python tools (moto_server, boto3, the
// SAM translator; tools/requirements-deploy.txt): without them the test
// skips, except in CI (CI=true), where it fails.
//
// moto's DynamoDB is not DynamoDB under concurrency: it applies an
// UpdateItem without a lock, so two requests on one item at once can lose
// one's changes (counters lose increments; conditions are not atomic). The
// stack here runs one batch of each queue at a time (it feeds one queue,
// the sync queue); atomicity is tested on dynalite, whose conditional
// writes are atomic.
package deploytest
