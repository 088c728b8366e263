package syncer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/jobs"
	"github.com/hubsend/hubsend/internal/ledger"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/source"
)

func TestNewCustomerAddsTypedSubscriber(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("Giulia.Bianchi@Example.COM", "Giulia", nil)
	id := h.put(c)
	h.calls()
	h.db.Take()

	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed messages %v", failed)
	}
	// Ledger read, add claim, result.
	if got := perJob(h.db.Take()); !maps.Equal(got, map[string]int{"GetItem LEDGER": 1, "UpdateItem LEDGER": 2}) {
		t.Fatalf("DynamoDB requests of a new customer = %v", got)
	}
	sub := h.only("giulia.bianchi@example.com")
	want := map[string]any{
		"EMAIL": "giulia.bianchi@example.com", "FIRST_NAME": "Giulia", "LAST_NAME": "Rossi", "BIRTH_DATE": "1980-05-17",
		"REGISTERED_AT": "2024-03-09 10:31:31", "LOYALTY_POINTS": "120", "VIP": "true", "SHOP": "Milano", "__cls1": "0",
	}
	if !maps.Equal(sub.Attributes, want) {
		t.Fatalf("stored attributes\n got %v\nwant %v", sub.Attributes, want)
	}
	// Cold cache: one getSubscriberSource per source; then find + add.
	if got := h.calls(); !maps.Equal(got, map[string]int{"getSubscriberSource": 1, "findSubscribersBy": 1, "addSubscriber": 1}) {
		t.Fatalf("Contactsend calls = %v", got)
	}
	e := h.entry(id)
	if e.SubscriberID != sub.ID || e.Hash == "" || e.Deleted || e.Failed || !e.AddingUntil.IsZero() {
		t.Fatalf("ledger entry = %+v", e)
	}
	if got, err := h.ledger.BySubscriber(context.Background(), h.src.ID, sub.ID); err != nil || got.CustomerID != id {
		t.Fatalf("BySubscriber = %+v, %v", got, err)
	}
	lines := h.logs.Lines(t, "sync job")
	if len(lines) != 1 || lines[0]["outcome"] != "added" || lines[0]["customer_id"] != id || lines[0]["source_id"] != h.src.ID {
		t.Fatalf("job log lines = %v", lines)
	}
	if strings.Contains(h.logs.String(), "giulia") || strings.Contains(h.logs.String(), "test-api-key") {
		t.Fatalf("logs hold personal data or secrets:\n%s", h.logs.String())
	}
	if len(h.logs.Lines(t, "sync metrics")) != 1 {
		t.Fatal("no metrics line")
	}
	st, err := h.ledger.Stats(context.Background(), h.src.ID, time.Now().Add(-time.Hour))
	if err != nil || st.Synced != 1 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

func TestChangedAndUnchangedCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("mario@example.com", "Mario", nil)
	id := h.put(c)
	h.sync(id)
	sub := h.only("mario@example.com")
	// Contactsend holds a column hubsend does not map; an update leaves it.
	if err := h.send.SetAttributes(userDB, sub.ID, map[string]string{"CITY": "Roma"}); err != nil {
		t.Fatal(err)
	}
	h.calls()
	h.db.Take()

	c["base"].(map[string]any)["firstName"] = "Marione"
	h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed messages %v", failed)
	}
	if got := h.calls(); !maps.Equal(got, map[string]int{"updateSubscriber": 1}) {
		t.Fatalf("Contactsend calls for a changed customer = %v, want one updateSubscriber", got)
	}
	if got := perJob(h.db.Take()); !maps.Equal(got, map[string]int{"GetItem LEDGER": 1, "UpdateItem LEDGER": 1}) {
		t.Fatalf("DynamoDB requests of a changed job = %v", got)
	}
	sub = h.only("mario@example.com")
	if sub.Attributes["FIRST_NAME"] != "Marione" || sub.Attributes["CITY"] != "Roma" {
		t.Fatalf("after update: %v", sub.Attributes)
	}

	// Unchanged: nothing in Contactsend, one ledger read.
	for range 2 {
		if failed := h.sync(id); failed != nil {
			t.Fatalf("failed messages %v", failed)
		}
		if got := h.calls(); len(got) != 0 {
			t.Fatalf("Contactsend calls for an unchanged customer = %v, want none", got)
		}
		db := h.db.Take()
		if got := perJob(db); !maps.Equal(got, map[string]int{"GetItem LEDGER": 1}) {
			t.Fatalf("DynamoDB requests of an unchanged job = %v (whole batch %v)", got, db)
		}
		if batch := total(db); batch > 4 {
			t.Fatalf("DynamoDB requests of a one-job batch = %d (%v), want ≤ 4", batch, db)
		}
	}
}

// perJob keeps the ledger requests: the source, connection and stats
// requests are per batch.
func perJob(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range counts {
		if strings.HasSuffix(k, " LEDGER") || strings.HasSuffix(k, " FAILED") {
			out[k] = v
		}
	}
	return out
}

func total(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

func TestRedeliveredAndDuplicatedJobsChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("dup@example.com", "Dup", nil))
	// Three copies in one batch: one run serves them all.
	ev := h.event(jobs.Job{CustomerID: id}, jobs.Job{CustomerID: id, Reason: jobs.FromFeed}, jobs.Job{CustomerID: id})
	if failed := h.handle(ev); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	h.only("dup@example.com")
	h.calls()
	// Redelivery of the same messages.
	if failed := h.handle(ev); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if got := h.calls(); len(got) != 0 {
		t.Fatalf("Contactsend calls on redelivery = %v", got)
	}
	h.only("dup@example.com")
}

func TestConcurrentJobsAddOneSubscriber(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("race@example.com", "Race", nil))
	// Slow the searches so both workers are in flight together.
	if _, err := h.send.Faults().Add(faults.Rule{Operation: "findSubscribersBy", Kind: faults.Latency, Latency: 50 * time.Millisecond, Count: 4}); err != nil {
		t.Fatal(err)
	}
	const workers = 4
	failed := make([][]string, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { failed[i] = h.sync(id) })
	}
	wg.Wait()
	outcomes := map[string]int{}
	for _, l := range h.logs.Lines(t, "sync job") {
		outcomes[l["outcome"].(string)]++
	}
	if outcomes["added"] != 1 || outcomes["added"]+outcomes["retry"]+outcomes["unchanged"] != workers {
		t.Fatalf("outcomes of the racing jobs = %v, want one added and the rest retry or unchanged", outcomes)
	}
	// Whoever lost the race comes back through SQS and finds the work done.
	for i := range workers {
		if failed[i] != nil {
			if again := h.sync(id); again != nil {
				t.Fatalf("retry of the losing job failed again: %v", again)
			}
		}
	}
	h.only("race@example.com")
	if e := h.entry(id); e.SubscriberID == 0 || !e.AddingUntil.IsZero() {
		t.Fatalf("ledger entry = %+v", e)
	}
}

func TestExistingSubscriberFoundByEmailIsUpdated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// The seed holds existing.person@example.com (id 2147483648).
	id := h.put(h.customer("Existing.Person@EXAMPLE.com", "Newname", nil))
	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	sub := h.only("existing.person@example.com")
	if sub.ID != 2147483648 || sub.Attributes["FIRST_NAME"] != "Newname" || sub.Attributes["CITY"] != "Bari" || sub.Attributes["__cls1"] != "1" {
		t.Fatalf("subscriber = %+v", sub)
	}
	if e := h.entry(id); e.SubscriberID != 2147483648 {
		t.Fatalf("ledger subscriber = %d", e.SubscriberID)
	}
}

func TestCoercionFailureThenFixed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *source.Source) {
		// A text Contacthub field into a DATE column: only dates fit.
		s.Properties.FieldMapping = append(s.Properties.FieldMapping[:3:3], source.FieldMapping{HubField: "extended.favouriteShop", SendField: "BIRTH_DATE"})
	})
	c := h.customer("shop@example.com", "Shop", nil)
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("a coercion failure failed the batch: %v", failed)
	}
	if subs := h.subscribers("shop@example.com"); len(subs) != 0 {
		t.Fatalf("subscriber written despite a coercion problem: %v", subs)
	}
	f, err := h.ledger.Failure(context.Background(), h.src.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != ledger.Coercion || f.Reason != "extended.favouriteShop: 'Milano' is not a date for DATE field BIRTH_DATE" || f.Attempts != 1 || f.JobReason != "webhook" {
		t.Fatalf("failure = %+v", f)
	}
	// The record names the customer for the admin who reads it.
	if f.Email != "shop@example.com" || f.FirstName != "Shop" || f.LastName != "Rossi" {
		t.Fatalf("failure names the customer as %q %q, want shop@example.com and Shop", f.Email, f.FirstName)
	}
	if strings.Contains(h.logs.String(), "Milano") {
		t.Fatal("the log quotes the customer's value")
	}

	// The data is fixed; the retry succeeds and clears the record.
	c["extended"].(map[string]any)["favouriteShop"] = "2001-02-03"
	h.put(c)
	if failed := h.handle(h.event(jobs.Job{CustomerID: id, Reason: jobs.FromRetry})); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if sub := h.only("shop@example.com"); sub.Attributes["BIRTH_DATE"] != "2001-02-03" {
		t.Fatalf("subscriber = %v", sub.Attributes)
	}
	if _, err := h.ledger.Failure(context.Background(), h.src.ID, id); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("failed record after success: %v", err)
	}
	if e := h.entry(id); e.Failed {
		t.Fatalf("entry still failed: %+v", e)
	}
}

func TestContactsendRejectionIsAFailedRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("reject@example.com", "Reject", nil))
	if _, err := h.send.Faults().Add(faults.Rule{Operation: "addSubscriber", Kind: faults.SOAPFault, Count: 1,
		Message: "Invalid value for field EMAIL of type STRING"}); err != nil {
		t.Fatal(err)
	}
	if failed := h.sync(id); failed != nil {
		t.Fatalf("a rejection failed the batch: %v", failed)
	}
	f, err := h.ledger.Failure(context.Background(), h.src.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != ledger.Rejected || !strings.Contains(f.Reason, "Invalid value for field EMAIL") {
		t.Fatalf("failure = %+v", f)
	}
	if f.Email != "reject@example.com" || f.FirstName != "Reject" {
		t.Fatalf("failure names the customer as %q %q, want reject@example.com and Reject", f.Email, f.FirstName)
	}
	// The claim was released: a replay goes through at once.
	if failed := h.sync(id); failed != nil {
		t.Fatalf("replay failed: %v", failed)
	}
	h.only("reject@example.com")
	if _, err := h.ledger.Failure(context.Background(), h.src.ID, id); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("failed record after success: %v", err)
	}
}

func TestTransientFaultsConverge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hub  bool
		// onChange installs the faults for the second sync (an update)
		// instead of the first (an add).
		onChange bool
		rules    []faults.Rule
	}{
		{"429 storm", false, false, []faults.Rule{{Kind: faults.Status, Status: 429, RetryAfterSeconds: 1, Count: 12}}},
		{"429 storm on update", false, true, []faults.Rule{{Kind: faults.Status, Status: 429, Count: 12}}},
		{"500s", false, false, []faults.Rule{{Kind: faults.Status, Status: 500, Count: 8}}},
		{"transient SOAP fault", false, false, []faults.Rule{{Operation: "addSubscriber", Kind: faults.SOAPFault, Count: 1, Message: "java.lang.IllegalStateException: connection pool exhausted"}}},
		{"expired token", false, false, []faults.Rule{{Kind: faults.ExpiredToken, Count: 3}}},
		{"expired token on update", false, true, []faults.Rule{{Kind: faults.ExpiredToken, Count: 3}}},
		{"dropped connection on addSubscriber", false, false, []faults.Rule{{Operation: "addSubscriber", Kind: faults.Drop, Count: 1}}},
		{"dropped connections on updateSubscriber", false, true, []faults.Rule{{Operation: "updateSubscriber", Kind: faults.Drop, Count: 5}}},
		{"Contacthub 429 storm", true, false, []faults.Rule{{Operation: "customers.get", Kind: faults.Status, Status: 429, Count: 6}}},
		{"Contacthub 503", true, true, []faults.Rule{{Operation: "customers.get", Kind: faults.Status, Status: 503, Count: 4}}},
		{"Contacthub dropped connections", true, false, []faults.Rule{{Operation: "customers.get", Kind: faults.Drop, Count: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c := h.customer("flaky@example.com", "Flaky", nil)
			id := h.put(c)
			injector := h.send.Faults()
			if tt.hub {
				injector = h.hub.Faults()
			}
			install := func() {
				for _, r := range tt.rules {
					if _, err := injector.Add(r); err != nil {
						t.Fatal(err)
					}
				}
			}
			converge := func(faulty bool) {
				t.Helper()
				if faulty {
					install()
				}
				for attempt := 1; h.sync(id) != nil; attempt++ {
					if attempt == 5 {
						t.Fatalf("still failing after %d deliveries", attempt)
					}
					// SQS redelivers after the visibility timeout (six
					// minutes), by which time any add claim has lapsed.
					h.skip(6 * time.Minute)
				}
				if left := injector.Rules(); len(left) != 0 {
					t.Fatalf("faults never fired: %+v", left)
				}
			}
			converge(!tt.onChange)
			c["base"].(map[string]any)["firstName"] = "Calm"
			h.put(c)
			converge(tt.onChange)
			if sub := h.only("flaky@example.com"); sub.Attributes["FIRST_NAME"] != "Calm" {
				t.Fatalf("subscriber = %v", sub.Attributes)
			}
			if _, err := h.ledger.Failure(context.Background(), h.src.ID, id); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("transient faults left a failed record: %v", err)
			}
		})
	}
}

func TestTransientFailureIsReportedForRedelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("later@example.com", "Later", nil))
	other := h.put(h.customer("fine@example.com", "Fine", nil))
	h.sync(other)
	h.calls()
	// Every attempt of the add fails for longer than the client retries.
	if _, err := h.send.Faults().Add(faults.Rule{Operation: "addSubscriber", Kind: faults.Status, Status: 503, Count: 4}); err != nil {
		t.Fatal(err)
	}
	ev := h.event(jobs.Job{CustomerID: id}, jobs.Job{CustomerID: other})
	failed := h.handle(ev)
	if len(failed) != 1 || failed[0] != ev.Records[0].MessageId {
		t.Fatalf("BatchItemFailures = %v, want only %s", failed, ev.Records[0].MessageId)
	}
	if len(h.subscribers("later@example.com")) != 0 {
		t.Fatal("subscriber added despite the faults")
	}
	if failed := h.handle(events.SQSEvent{Records: ev.Records[:1]}); failed != nil {
		t.Fatalf("redelivery failed: %v", failed)
	}
	h.only("later@example.com")
	st, err := h.ledger.Stats(context.Background(), h.src.ID, time.Now().Add(-time.Hour))
	if err != nil || st.Retried != 1 || st.LastError == "" {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

func TestDeletedCustomer(t *testing.T) {
	t.Parallel()
	for _, policy := range []source.DeletePolicy{"", source.KeepSubscriber, source.RemoveSubscriber} {
		t.Run(fmt.Sprintf("policy %q", policy), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(s *source.Source) { s.Properties.OnCustomerDeleted = policy })
			id := h.put(h.customer("gone@example.com", "Gone", nil))
			h.sync(id)
			sub := h.only("gone@example.com")
			if err := h.hub.DeleteCustomer(hubWorkspace, id); err != nil {
				t.Fatal(err)
			}
			h.calls()
			if failed := h.sync(id); failed != nil {
				t.Fatalf("failed %v", failed)
			}
			e := h.entry(id)
			if !e.Deleted {
				t.Fatalf("entry not marked deleted: %+v", e)
			}
			calls := h.calls()
			if policy == source.RemoveSubscriber {
				if len(h.subscribers("gone@example.com")) != 0 || e.SubscriberID != 0 || calls["removeSubscriber"] != 1 {
					t.Fatalf("remove: subscriber kept, entry %+v, calls %v", e, calls)
				}
			} else {
				if h.only("gone@example.com").ID != sub.ID || e.SubscriberID != sub.ID || len(calls) != 0 {
					t.Fatalf("keep: entry %+v, calls %v", e, calls)
				}
			}
			// Handled once: a redelivery touches nothing.
			h.db.Take()
			if failed := h.sync(id); failed != nil {
				t.Fatalf("failed %v", failed)
			}
			if got := perJob(h.db.Take()); !maps.Equal(got, map[string]int{"GetItem LEDGER": 1}) {
				t.Fatalf("DynamoDB requests on a second delete = %v", got)
			}
			if calls := h.calls(); len(calls) != 0 {
				t.Fatalf("Contactsend calls on a second delete = %v", calls)
			}
		})
	}
}

func TestDisabledOrMissingSourceTouchesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("off@example.com", "Off", nil))
	if _, err := h.store.SetEnabled(context.Background(), workspace, h.src.ID, false, 0); err != nil {
		t.Fatal(err)
	}
	h.hub.Calls().Reset()
	h.db.Take()
	ev := h.event(jobs.Job{CustomerID: id}, jobs.Job{SourceID: "no-such-source", CustomerID: id})
	if failed := h.handle(ev); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if calls := h.calls(); len(calls) != 0 {
		t.Fatalf("Contactsend calls = %v", calls)
	}
	if n := h.hub.Calls().Total(); n != 0 {
		t.Fatalf("Contacthub calls = %d", n)
	}
	for k := range h.db.Take() {
		if !strings.HasPrefix(k, "GetItem SOURCE") {
			t.Fatalf("DynamoDB request %s for a disabled source", k)
		}
	}
	if h.entry(id).Stored() {
		t.Fatal("ledger written for a disabled source")
	}
}

func TestCustomerOfAnotherNodeIsSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("elsewhere@example.com", "Else", nil)
	c["nodeId"] = h.other
	id := h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if len(h.subscribers("elsewhere@example.com")) != 0 || h.entry(id).Stored() {
		t.Fatal("customer of another node synced")
	}
	lines := h.logs.Lines(t, "sync job")
	if len(lines) != 1 || lines[0]["outcome"] != "skipped" {
		t.Fatalf("log = %v", lines)
	}

	// An aggregate source takes the customers of its entry nodes.
	h.replaceSource(func(s *source.Source) { s.Nodes = []string{h.agg} })
	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	h.only("elsewhere@example.com")
}

func TestUndecodableMessageIsAcknowledged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("ok@example.com", "Ok", nil))
	ev := h.event(jobs.Job{CustomerID: id})
	ev.Records = append(ev.Records,
		events.SQSMessage{MessageId: "garbage", Body: "{not json"},
		events.SQSMessage{MessageId: "no-customer", Body: `{"sourceId":"src1","reason":"webhook"}`})
	if failed := h.handle(ev); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	h.only("ok@example.com")
	warned := map[string]bool{}
	for _, l := range h.logs.Lines(t, "sync job undecodable, acknowledged") {
		warned[l["message_id"].(string)] = true
	}
	if !warned["garbage"] || !warned["no-customer"] {
		t.Fatalf("undecodable messages not logged: %v", warned)
	}
}

func TestSubscriberJobFindsItsCustomer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("sub@example.com", "Sub", nil)
	id := h.put(c)
	h.sync(id)
	sub := h.only("sub@example.com")
	c["base"].(map[string]any)["firstName"] = "Subbed"
	h.put(c)
	if failed := h.handle(h.event(jobs.Job{SubscriberID: sub.ID, Reason: jobs.FromSendWebhook})); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if got := h.only("sub@example.com").Attributes["FIRST_NAME"]; got != "Subbed" {
		t.Fatalf("FIRST_NAME = %v", got)
	}
}

func TestDeadlineNearGivesJobsBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.put(h.customer("late@example.com", "Late", nil))
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDeadlineMargin/2)
	defer cancel()
	ev := h.event(jobs.Job{CustomerID: id})
	resp, err := h.worker.HandleSQS(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("HandleSQS near the deadline = %+v, %v", resp, err)
	}
	if len(h.subscribers("late@example.com")) != 0 {
		t.Fatal("a job started near the deadline")
	}
}

func TestClearOnNull(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.customer("clear@example.com", "Clear", nil)
	id := h.put(c)
	h.sync(id)
	base := c["base"].(map[string]any)
	delete(base, "lastName")  // ClearOnNull: LAST_NAME is emptied
	delete(base, "firstName") // not ClearOnNull: FIRST_NAME stays
	h.put(c)
	if failed := h.sync(id); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	sub := h.only("clear@example.com")
	if _, ok := sub.Attributes["LAST_NAME"]; ok || sub.Attributes["FIRST_NAME"] != "Clear" {
		t.Fatalf("attributes = %v", sub.Attributes)
	}
}

func TestInFlightCapPerSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(s *source.Source) { s.Properties.MaxInFlight = 2 })
	var ids []string
	for i := range 8 {
		ids = append(ids, h.put(h.customer(fmt.Sprintf("cap%d@example.com", i), "Cap", nil)))
	}
	h.send.Faults().Add(faults.Rule{Kind: faults.Latency, Latency: 20 * time.Millisecond, Rate: 1})
	probe := &probeSend{Send: h.worker.send}
	h.worker.send = probe
	if failed := h.sync(ids...); failed != nil {
		t.Fatalf("failed %v", failed)
	}
	if probe.peak > 2 || probe.peak < 2 {
		t.Fatalf("peak Contactsend calls in flight = %d, want 2", probe.peak)
	}
}

// probeSend measures how many calls are in flight at once.
type probeSend struct {
	Send
	mu        sync.Mutex
	now, peak int
}

func (p *probeSend) enter() func() {
	p.mu.Lock()
	p.now++
	p.peak = max(p.peak, p.now)
	p.mu.Unlock()
	return func() { p.mu.Lock(); p.now--; p.mu.Unlock() }
}

func (p *probeSend) SubscriberSource(ctx context.Context, cred contactsend.Credentials, db int64) (contactsend.SubscriberSource, error) {
	defer p.enter()()
	return p.Send.SubscriberSource(ctx, cred, db)
}

func (p *probeSend) FindSubscribersBy(ctx context.Context, cred contactsend.Credentials, db int64, q contactsend.Query) (contactsend.SubscriberPage, error) {
	defer p.enter()()
	return p.Send.FindSubscribersBy(ctx, cred, db, q)
}

func (p *probeSend) AddSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	defer p.enter()()
	return p.Send.AddSubscriber(ctx, cred, db, s)
}

func (p *probeSend) UpdateSubscriber(ctx context.Context, cred contactsend.Credentials, db int64, s contactsend.Subscriber) (contactsend.Subscriber, error) {
	defer p.enter()()
	return p.Send.UpdateSubscriber(ctx, cred, db, s)
}
