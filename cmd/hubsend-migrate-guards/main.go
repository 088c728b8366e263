// Command hubsend-migrate-guards moves the sources of a deployment to the
// current "one source : one node : one userdb" guard keys (the userdb keyed
// on its Contactsend id, the node on its Contacthub workspace), once, after
// upgrading from a release that keyed them on the apiKey text and the
// hubsend workspace. It scans the table, which the functions' roles may
// not, so an operator runs it with their own AWS credentials:
//
//	go run ./cmd/hubsend-migrate-guards -table <the stack's table>
//
// It is idempotent and safe alongside live traffic. Sources it reports in
// conflict share a node or userdb with another source (what the old keys
// let through): disable and change or delete one of each pair.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hubsend/hubsend/internal/configstore"
)

func main() {
	table := flag.String("table", os.Getenv("TABLE_NAME"), "the DynamoDB table of the stack (env TABLE_NAME)")
	endpoint := flag.String("endpoint", "", "a DynamoDB endpoint other than AWS's, e.g. a local emulator")
	flag.Parse()
	if *table == "" {
		fmt.Fprintln(os.Stderr, "hubsend-migrate-guards: name the table with -table")
		os.Exit(2)
	}
	if err := run(context.Background(), *table, *endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "hubsend-migrate-guards:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, table, endpoint string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
	})
	// Moving guards opens no secret: no key box is needed.
	report, err := configstore.New(db, table, nil).MigrateGuardKeys(ctx, db)
	if err != nil {
		return err
	}
	fmt.Printf("%d sources moved to the current guard keys\n", report.Migrated)
	for _, c := range report.Conflicts {
		fmt.Println("conflict:", c)
	}
	if len(report.Conflicts) > 0 {
		return fmt.Errorf("%d sources share a node or userdb with another source", len(report.Conflicts))
	}
	return nil
}
