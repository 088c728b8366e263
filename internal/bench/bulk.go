package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hubsend/hubsend/internal/bulk"
	"github.com/hubsend/hubsend/internal/contacthub"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/syncer"
	"github.com/hubsend/hubsend/internal/wiring/bulkworkerfn"
)

// PagesPerBulkJob is how many Contacthub pages (of 50) one bulk job loads
// in the measurements: 1,000 customers, two addSubscribers pages.
const PagesPerBulkJob = 20

// NewLoader returns the bulk function's loader on the harness's counted
// clients, handing customers over to the queue at handoffURL.
func (h *Harness) NewLoader(handoffURL string) (*bulk.Loader, error) {
	cfg, err := h.LoaderConfig(handoffURL)
	if err != nil {
		return nil, err
	}
	return bulk.New(cfg)
}

// BulkAddClaim is the loader's add claim in the harness. The harness runs
// a bulk job without an invocation deadline, so a run that leaves adds of
// unknown outcome keeps the job's lease for a whole claim (see
// bulk.Loader.Load): the template's 15 minutes would hold a test that long.
// Half a minute outlasts an add page's work at the latency profile.
const BulkAddClaim = 30 * time.Second

// LoaderConfig is the bulk function's loader configuration on the
// harness's counted clients, with the harness's add claim.
func (h *Harness) LoaderConfig(handoffURL string) (bulk.Config, error) {
	cfg, err := bulkworkerfn.Config(h.Deps, handoffURL)
	cfg.AddClaim = BulkAddClaim
	return cfg, err
}

// BulkJobs covers the node's customers with bulk jobs of PagesPerBulkJob
// pages, as the scheduler makes them.
func (h *Harness) BulkJobs(runID string) []jobs.BulkJob {
	pages := (len(h.Customers) + contacthub.MaxPageSize - 1) / contacthub.MaxPageSize
	var out []jobs.BulkJob
	for first := 0; first < pages; first += PagesPerBulkJob {
		out = append(out, jobs.BulkJob{Kind: jobs.FromBulk, SourceID: h.SourceID, RunID: runID, FirstPage: first,
			Pages: min(PagesPerBulkJob, pages-first), Size: contacthub.MaxPageSize, EnqueuedAt: time.Now()})
	}
	return out
}

// RunBulk runs the jobs, concurrency at a time, giving a job that asks to
// come back (bulk.ErrRetry) up to tries runs, after a redelivery delay, as
// SQS would.
func RunBulk(ctx context.Context, l *bulk.Loader, all []jobs.BulkJob, concurrency, tries int) (bulk.Report, error) {
	var (
		mu   sync.Mutex
		rep  bulk.Report
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, concurrency)
	for _, job := range all {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for try := 1; ; try++ {
				r, err := l.Load(ctx, job)
				mu.Lock()
				rep.Add(r)
				mu.Unlock()
				if err == nil {
					return
				}
				if !errors.Is(err, bulk.ErrRetry) || try >= tries || ctx.Err() != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("job from page %d: %w", job.FirstPage, err))
					mu.Unlock()
					return
				}
				// SQS brings a job given back after the redelivery delay
				// (the bulk handler sets it); the harness caps it at 5 s.
				t := time.NewTimer(min(syncer.RedeliveryDelay(try, 0), 5*time.Second))
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		})
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

// ForgetLedger deletes every ledger entry of the source, as a lost ledger
// would leave it (uncounted).
func (h *Harness) ForgetLedger(ctx context.Context) error {
	db := h.db.DynamoDB()
	var start map[string]types.AttributeValue
	for {
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(Table), KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "LEDGER#" + h.SourceID}},
			ProjectionExpression:      aws.String("pk, sk"), ExclusiveStartKey: start,
		})
		if err != nil {
			return err
		}
		for i := 0; i < len(out.Items); i += 25 {
			var reqs []types.WriteRequest
			for _, item := range out.Items[i:min(i+25, len(out.Items))] {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: item}})
			}
			for len(reqs) > 0 {
				res, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{Table: reqs}})
				if err != nil {
					return err
				}
				reqs = res.UnprocessedItems[Table]
			}
		}
		if start = out.LastEvaluatedKey; start == nil {
			return nil
		}
	}
}
