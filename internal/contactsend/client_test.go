package contactsend_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/contactsend"
	"github.com/hubsend/hubsend/internal/retry"
	"github.com/hubsend/hubsend/internal/simulators/faults"
	"github.com/hubsend/hubsend/internal/simulators/sendsim"
	"github.com/hubsend/hubsend/internal/testkit"
)

const (
	newsletterDB = 101
	eventsDB     = 102
	otherDB      = 201
	newsletterWF = "230004001355"
	promoWF      = "230004001356"
	marioID      = 2147483648 // above int32: the seed exercises long ids
)

var (
	demo  = contactsend.Credentials{APIKey: "demo-api-key", UserKey: "demo-user-key"}
	other = contactsend.Credentials{APIKey: "other-api-key", UserKey: "other-user-key"}
)

// sleeps records the waits of the retry policy, which returns at once.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

type env struct {
	sim    *sendsim.Server
	srv    *httptest.Server
	client *contactsend.Client
	clock  *testkit.Clock
	sleeps *sleeps
}

type envOption func(*sendsim.Seed, *contactsend.Config)

func loadSeed(t *testing.T) sendsim.Seed {
	t.Helper()
	seed, err := sendsim.LoadSeed(filepath.Join("..", "simulators", "sendsim", "testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// newEnv starts the simulator with the test seed and a client for it,
// sharing a fake clock, with instant retries.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{clock: testkit.NewClock(time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)), sleeps: &sleeps{}}
	seed := loadSeed(t)
	cfg := contactsend.Config{
		Clock: e.clock.Now,
		Retry: retry.Policy{Attempts: 4, Base: time.Millisecond, Max: time.Second, Sleep: e.sleeps.sleep},
	}
	for _, o := range opts {
		o(&seed, &cfg)
	}
	e.sim = sendsim.New(sendsim.Options{Seed: seed, Clock: e.clock.Now})
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(e.srv.Close)
	if cfg.Endpoint == "" {
		cfg.Endpoint = e.srv.URL + sendsim.ServicePath
	}
	c, err := contactsend.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

func (e *env) count(op string) int { return e.sim.Calls().Counts()[op] }

func (e *env) addFault(t *testing.T, r faults.Rule) {
	t.Helper()
	if _, err := e.sim.Faults().Add(r); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCredentials(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.client.CheckCredentials(ctx, demo); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	err := e.client.CheckCredentials(ctx, contactsend.Credentials{APIKey: "demo-api-key", UserKey: "wrong"})
	if !errors.Is(err, contactsend.ErrBadCredentials) {
		t.Fatalf("bad credentials: got %v, want ErrBadCredentials", err)
	}
	var f *contactsend.Fault
	if !errors.As(err, &f) || f.Code != "Receiver" || f.Reason == "" {
		t.Fatalf("bad credentials: want a *Fault with code and reason, got %#v", f)
	}
	if got := e.count("borrowToken"); got != 2 {
		t.Fatalf("borrowToken calls = %d, want 2 (bad credentials are not retried)", got)
	}
}

func TestSubscriberSourceAndCount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, err := e.client.SubscriberSource(ctx, demo, newsletterDB)
	if err != nil {
		t.Fatal(err)
	}
	if src.ID != newsletterDB || src.Name != "Newsletter" || src.Locked || src.ReadOnly {
		t.Fatalf("source = %+v", src)
	}
	wantTypes := map[string]contactsend.FieldType{
		"EMAIL": contactsend.String, "GENDER": contactsend.Char, "NOTES": contactsend.Text, "BIRTH_DATE": contactsend.Date,
		"LAST_ORDER_AT": contactsend.DateTime, "UPDATED_AT": contactsend.Timestamp, "PREFERRED_TIME": contactsend.Time,
		"LOYALTY_POINTS": contactsend.Integer, "ORDERS": contactsend.PositiveInteger, "CUSTOMER_NUMBER": contactsend.Long,
		"LIFETIME_VALUE": contactsend.Double, "PRIVACY_ACCEPTED": contactsend.Flag, "__cls1": contactsend.Integer,
	}
	for name, typ := range wantTypes {
		f, ok := src.Field(name)
		if !ok || f.Type != typ {
			t.Errorf("field %s = %+v, %v; want type %s", name, f, ok, typ)
		}
	}
	if f, _ := src.Field("EMAIL"); !f.EmailField {
		t.Errorf("EMAIL is not flagged as the email field")
	}
	if f, _ := src.Field("MOBILE"); !f.PhoneField {
		t.Errorf("MOBILE is not flagged as the phone field")
	}
	n, err := e.client.CountSubscribers(ctx, demo, newsletterDB)
	if err != nil || n != 3 {
		t.Fatalf("count = %d, %v; want 3", n, err)
	}
	if _, err := e.client.SubscriberSource(ctx, demo, otherDB); !errors.Is(err, contactsend.ErrUnknownUserDB) {
		t.Fatalf("another tenant's userDb: got %v, want ErrUnknownUserDB", err)
	}
	if _, err := e.client.CountSubscribers(ctx, demo, 999); !errors.Is(err, contactsend.ErrUnknownUserDB) {
		t.Fatalf("unknown userDb: got %v, want ErrUnknownUserDB", err)
	}
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t)
	subs, err := e.client.Subscriptions(context.Background(), demo, newsletterDB)
	if err != nil {
		t.Fatal(err)
	}
	want := []contactsend.Subscription{
		{ID: 11, Name: "Weekly newsletter", RegistrationField: "__cls1", WebformCode: newsletterWF},
		{ID: 12, Name: "Promotions", RegistrationField: "__cls2", WebformCode: promoWF},
	}
	if len(subs) != len(want) {
		t.Fatalf("subscriptions = %+v, want %+v", subs, want)
	}
	for i := range want {
		if subs[i] != want[i] {
			t.Errorf("subscription %d = %+v, want %+v", i, subs[i], want[i])
		}
	}
}

func TestSubscriberLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	birth := time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)
	lastOrder := time.Date(2024, 3, 9, 8, 7, 6, 0, time.UTC)
	in := contactsend.Subscriber{Attributes: []contactsend.Attribute{
		{Key: "EMAIL", Value: contactsend.StringValue("anna@example.com")},
		{Key: "NOTES", Value: contactsend.TextValue(contactsend.Text, "likes <tags> & \"quotes\"")},
		{Key: "BIRTH_DATE", Value: contactsend.TimeValue(contactsend.Date, birth)},
		{Key: "LAST_ORDER_AT", Value: contactsend.TimeValue(contactsend.DateTime, lastOrder)},
		{Key: "PREFERRED_TIME", Value: contactsend.TimeValue(contactsend.Time, lastOrder)},
		{Key: "LOYALTY_POINTS", Value: contactsend.IntValue(-5)},
		{Key: "CUSTOMER_NUMBER", Value: contactsend.LongValue(1 << 40)},
		{Key: "LIFETIME_VALUE", Value: contactsend.DoubleValue(12.25)},
		{Key: "PRIVACY_ACCEPTED", Value: contactsend.FlagValue(true)},
	}}
	added, err := e.client.AddSubscriber(ctx, demo, newsletterDB, in)
	if err != nil {
		t.Fatal(err)
	}
	if added.ID != 2147483748 {
		t.Fatalf("assigned id = %d, want the seed's next id 2147483748", added.ID)
	}
	checks := map[string]string{
		"EMAIL": "anna@example.com", "NOTES": "likes <tags> & \"quotes\"", "BIRTH_DATE": "1990-01-02",
		"LAST_ORDER_AT": "2024-03-09 08:07:06", "PREFERRED_TIME": "08:07:06", "LOYALTY_POINTS": "-5",
		"CUSTOMER_NUMBER": "1099511627776", "LIFETIME_VALUE": "12.25", "PRIVACY_ACCEPTED": "true",
		"__cls1": "0", "__cls2": "0",
	}
	for k, want := range checks {
		v, ok := added.Get(k)
		if !ok || v.String() != want {
			t.Errorf("added %s = %q (%v), want %q", k, v.String(), ok, want)
		}
	}
	if v, _ := added.Get("PRIVACY_ACCEPTED"); v.Type() != contactsend.Flag {
		t.Errorf("FLAG came back as %s", v.Type())
	}
	if v, _ := added.Get("CUSTOMER_NUMBER"); v.Type() != contactsend.Long {
		t.Errorf("LONG came back as %s", v.Type())
	}
	if v, _ := added.Get("BIRTH_DATE"); true {
		d, err := v.As(contactsend.Date)
		if tm, ok := d.Time(); err != nil || !ok || !tm.Equal(birth) {
			t.Errorf("BIRTH_DATE as Date = %v, %v", tm, err)
		}
	}
	if st, ok := added.SubscriptionStatus("__cls1"); !ok || st != contactsend.Pending {
		t.Errorf("new subscriber __cls1 = %v, %v; want pending", st, ok)
	}

	got, err := e.client.GetSubscriber(ctx, demo, newsletterDB, added.ID)
	if err != nil || got.ID != added.ID {
		t.Fatalf("get = %+v, %v", got, err)
	}

	updated, err := e.client.UpdateSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{ID: added.ID, Attributes: []contactsend.Attribute{
		{Key: "FIRST_NAME", Value: contactsend.StringValue("Anna")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := updated.Get("FIRST_NAME"); v.String() != "Anna" {
		t.Errorf("updated FIRST_NAME = %q", v.String())
	}
	if v, _ := updated.Get("EMAIL"); v.String() != "anna@example.com" {
		t.Errorf("update lost EMAIL: %q (updateSubscriber merges)", v.String())
	}

	if err := e.client.ModifySubscriptionStatus(ctx, demo, newsletterWF, added.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := e.client.ModifySubscriptionStatus(ctx, demo, promoWF, added.ID, false); err != nil {
		t.Fatal(err)
	}
	got, _ = e.client.GetSubscriber(ctx, demo, newsletterDB, added.ID)
	if st, _ := got.SubscriptionStatus("__cls1"); st != contactsend.Subscribed {
		t.Errorf("__cls1 = %v, want subscribed", st)
	}
	if st, _ := got.SubscriptionStatus("__cls2"); st != contactsend.Unsubscribed {
		t.Errorf("__cls2 = %v, want unsubscribed", st)
	}

	if err := e.client.RemoveSubscriber(ctx, demo, newsletterDB, added.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetSubscriber(ctx, demo, newsletterDB, added.ID); !errors.Is(err, contactsend.ErrUnknownSubscriber) {
		t.Fatalf("get removed: got %v, want ErrUnknownSubscriber", err)
	}
	if err := e.client.RemoveSubscriber(ctx, demo, newsletterDB, added.ID); !errors.Is(err, contactsend.ErrUnknownSubscriber) {
		t.Fatalf("remove twice: got %v, want ErrUnknownSubscriber", err)
	}
}

func TestFaultsBecomeTypedErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown subscriber", func() error {
			_, err := e.client.GetSubscriber(ctx, demo, newsletterDB, 42)
			return err
		}, contactsend.ErrUnknownSubscriber},
		{"update unknown subscriber", func() error {
			_, err := e.client.UpdateSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{ID: 42, Attributes: []contactsend.Attribute{{Key: "FIRST_NAME", Value: contactsend.StringValue("x")}}})
			return err
		}, contactsend.ErrUnknownSubscriber},
		{"string in an INTEGER field", func() error {
			_, err := e.client.AddSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{Attributes: []contactsend.Attribute{
				{Key: "EMAIL", Value: contactsend.StringValue("x@example.com")},
				{Key: "LOYALTY_POINTS", Value: contactsend.StringValue("many")},
			}})
			return err
		}, contactsend.ErrInvalidValue},
		{"long in an INTEGER field", func() error {
			_, err := e.client.AddSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{Attributes: []contactsend.Attribute{
				{Key: "LOYALTY_POINTS", Value: contactsend.LongValue(1 << 40)},
			}})
			return err
		}, contactsend.ErrInvalidValue},
		{"unknown field", func() error {
			_, err := e.client.AddSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{Attributes: []contactsend.Attribute{
				{Key: "NOPE", Value: contactsend.StringValue("x")},
			}})
			return err
		}, contactsend.ErrInvalidValue},
		{"duplicate unique email", func() error {
			_, err := e.client.AddSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{Attributes: []contactsend.Attribute{
				{Key: "EMAIL", Value: contactsend.StringValue("mario.rossi@example.com")},
			}})
			return err
		}, contactsend.ErrInvalidValue},
		{"unknown web form code", func() error {
			return e.client.ModifySubscriptionStatus(ctx, demo, "000", marioID, true)
		}, contactsend.ErrUnknownWebForm},
		{"status of an unknown subscriber", func() error {
			return e.client.ModifySubscriptionStatus(ctx, demo, newsletterWF, 42, true)
		}, contactsend.ErrUnknownSubscriber},
		{"unknown userDb", func() error {
			_, err := e.client.Subscriptions(ctx, demo, 999)
			return err
		}, contactsend.ErrUnknownUserDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if errors.Is(err, contactsend.ErrOutcomeUnknown) || retry.Temporary(err) {
				t.Fatalf("a fault must be permanent: %v", err)
			}
		})
	}
}

func TestFindSubscribersPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 40 {
		_, err := e.sim.AddSubscriber(eventsDB, map[string]string{"EMAIL": "guest" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@events.example"})
		if err != nil {
			t.Fatal(err)
		}
	}
	attr := contactsend.Attribute{Key: "EMAIL", Value: contactsend.StringValue("%@events.example")}
	page, err := e.client.FindSubscribers(ctx, demo, eventsDB, attr, contactsend.LookupPrefs{MatchingMode: contactsend.Like, PageNumber: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Subscribers) != 10 || page.PageNumber != 3 || page.MaxPageNumber != 3 {
		t.Fatalf("page 3: %d items, page %d of %d; want 10, 3 of 3", len(page.Subscribers), page.PageNumber, page.MaxPageNumber)
	}
	e.sim.Calls().Reset()
	all, err := e.client.FindAllSubscribers(ctx, demo, eventsDB, attr, contactsend.LookupPrefs{MatchingMode: contactsend.Like, SortingMode: contactsend.Ascending})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 40 || e.count("findSubscribers") != 3 {
		t.Fatalf("all: %d subscribers in %d calls; want 40 in 3", len(all), e.count("findSubscribers"))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("ascending order broken at %d", i)
		}
	}
	none, err := e.client.FindAllSubscribers(ctx, demo, eventsDB, contactsend.Attribute{Key: "EMAIL", Value: contactsend.StringValue("nobody@x")}, contactsend.LookupPrefs{})
	if err != nil || len(none) != 0 {
		t.Fatalf("no match: %v, %v", none, err)
	}
}

func TestFindSubscribersMatchingModes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ids := func(subs []contactsend.Subscriber) []int64 {
		var out []int64
		for _, s := range subs {
			out = append(out, s.ID)
		}
		return out
	}
	const giulia, luca = marioID + 1, marioID + 2
	tests := []struct {
		mode contactsend.MatchingMode
		attr contactsend.Attribute
		want []int64
	}{
		{contactsend.Equals, contactsend.Attribute{Key: "EMAIL", Value: contactsend.StringValue("MARIO.ROSSI@example.com")}, []int64{marioID}},
		{contactsend.Like, contactsend.Attribute{Key: "LAST_NAME", Value: contactsend.StringValue("%i")}, []int64{marioID, giulia, luca}},
		{contactsend.NotLike, contactsend.Attribute{Key: "FIRST_NAME", Value: contactsend.StringValue("M%")}, []int64{giulia, luca}},
		{contactsend.IsNull, contactsend.Attribute{Key: "MOBILE"}, []int64{marioID, giulia}},
		{contactsend.IsNotNull, contactsend.Attribute{Key: "MOBILE"}, []int64{luca}},
		{contactsend.Greater, contactsend.Attribute{Key: "UPDATED_AT", Value: contactsend.StringValue("2024-03-01 10:00:00")}, []int64{giulia}},
		{contactsend.GreaterEquals, contactsend.Attribute{Key: "UPDATED_AT", Value: contactsend.StringValue("2024-03-01 10:00:00")}, []int64{marioID, giulia}},
		{contactsend.Less, contactsend.Attribute{Key: "__cls1", Value: contactsend.IntValue(1)}, []int64{giulia, luca}},
		{contactsend.LessEquals, contactsend.Attribute{Key: "__cls1", Value: contactsend.IntValue(0)}, []int64{giulia, luca}},
		{contactsend.In, contactsend.Attribute{Key: "FIRST_NAME", Value: contactsend.StringValue("Mario,Luca")}, []int64{marioID, luca}},
		{contactsend.NotIn, contactsend.Attribute{Key: "FIRST_NAME", Value: contactsend.StringValue("Mario,Luca")}, []int64{giulia}},
		{contactsend.Different, contactsend.Attribute{Key: "__cls1", Value: contactsend.IntValue(1)}, []int64{giulia, luca}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			subs, err := e.client.FindAllSubscribers(ctx, demo, newsletterDB, tt.attr, contactsend.LookupPrefs{MatchingMode: tt.mode, SortingMode: contactsend.Ascending})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(subs); !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFindSubscribersBy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := contactsend.Query{
		Select: []string{"EMAIL", "__cls1"},
		Where: []contactsend.Filter{
			{Attribute: "__cls1", Mode: contactsend.In, Values: []contactsend.Value{contactsend.IntValue(1), contactsend.IntValue(-1)}},
			{Attribute: "EMAIL", Mode: contactsend.Like, Value: contactsend.StringValue("%@example.com")},
		},
		Sort:     []contactsend.Sort{{Field: "EMAIL", Order: contactsend.Descending}},
		PageSize: 1,
	}
	page, err := e.client.FindSubscribersBy(ctx, demo, newsletterDB, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Subscribers) != 1 || page.MaxPageNumber != 2 {
		t.Fatalf("page = %+v", page)
	}
	first := page.Subscribers[0]
	if v, _ := first.Get("EMAIL"); v.String() != "mario.rossi@example.com" {
		t.Fatalf("first by EMAIL descending = %q", v.String())
	}
	if len(first.Attributes) != 2 {
		t.Fatalf("projection: got attributes %+v, want EMAIL and __cls1 only", first.Attributes)
	}
	all, err := e.client.FindAllSubscribersBy(ctx, demo, newsletterDB, q)
	if err != nil || len(all) != 2 {
		t.Fatalf("all = %d, %v; want 2", len(all), err)
	}
	_, err = e.client.FindSubscribersBy(ctx, demo, newsletterDB, contactsend.Query{Where: []contactsend.Filter{{Attribute: "NOPE", Value: contactsend.StringValue("x")}}})
	if !errors.Is(err, contactsend.ErrInvalidValue) {
		t.Fatalf("unknown attribute: got %v, want ErrInvalidValue", err)
	}
}

func TestTokenSharedAcrossConcurrentCalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := e.client.CountSubscribers(ctx, demo, newsletterDB)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.count("borrowToken"); got != 1 {
		t.Fatalf("borrowToken calls = %d, want exactly 1", got)
	}
	if got := e.count("countSubscribers"); got != 20 {
		t.Fatalf("countSubscribers calls = %d, want 20", got)
	}
	// Another tenant gets its own token.
	if _, err := e.client.CountSubscribers(ctx, other, otherDB); err != nil {
		t.Fatal(err)
	}
	if got := e.count("borrowToken"); got != 2 {
		t.Fatalf("borrowToken calls after a second tenant = %d, want 2", got)
	}
}

func TestConcurrentCallsShareOneReborrow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.client.CheckCredentials(ctx, demo); err != nil {
		t.Fatal(err)
	}
	// The service forgets the token behind the client's back.
	e.sim.Advance(sendsim.DefaultTokenIdle)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := e.client.CountSubscribers(ctx, demo, newsletterDB); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// One re-borrow is shared: a caller refused after the new token arrived
	// does not drop it.
	if got := e.count("borrowToken"); got != 2 {
		t.Fatalf("borrowToken calls = %d, want 2", got)
	}
}

func TestExpiredTokenReborrowsOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.client.CheckCredentials(ctx, demo); err != nil {
		t.Fatal(err)
	}
	e.addFault(t, faults.Rule{Operation: "countSubscribers", Kind: faults.ExpiredToken, Count: 1})
	n, err := e.client.CountSubscribers(ctx, demo, newsletterDB)
	if err != nil || n != 3 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if b, c := e.count("borrowToken"), e.count("countSubscribers"); b != 2 || c != 2 {
		t.Fatalf("borrowToken = %d, countSubscribers = %d; want 2 and 2", b, c)
	}

	// A token refused twice in a row is reported, not chased forever.
	e.addFault(t, faults.Rule{Operation: "countSubscribers", Kind: faults.ExpiredToken, Count: 2})
	_, err = e.client.CountSubscribers(ctx, demo, newsletterDB)
	if !errors.Is(err, contactsend.ErrTokenExpired) {
		t.Fatalf("twice expired: got %v, want ErrTokenExpired", err)
	}
	if b := e.count("borrowToken"); b != 3 {
		t.Fatalf("borrowToken = %d, want 3 (one re-borrow per call)", b)
	}
}

func TestTokenIdleExpiryAndKeepalive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	count := func() {
		t.Helper()
		if _, err := e.client.CountSubscribers(ctx, demo, newsletterDB); err != nil {
			t.Fatal(err)
		}
	}
	count()
	e.clock.Advance(5 * time.Minute)
	count()
	if k, b := e.count("keepaliveToken"), e.count("borrowToken"); k != 0 || b != 1 {
		t.Fatalf("after 5 min: keepalive %d, borrow %d; want 0, 1", k, b)
	}
	e.clock.Advance(6 * time.Minute) // 11 min since the borrow: keep it alive first
	count()
	if k, b := e.count("keepaliveToken"), e.count("borrowToken"); k != 1 || b != 1 {
		t.Fatalf("after 11 min: keepalive %d, borrow %d; want 1, 1", k, b)
	}
	e.clock.Advance(16 * time.Minute) // idle past expiry: borrow without asking
	count()
	if k, b := e.count("keepaliveToken"), e.count("borrowToken"); k != 1 || b != 2 {
		t.Fatalf("after idle expiry: keepalive %d, borrow %d; want 1, 2", k, b)
	}
	if f := e.sim.Calls().Counts()["countSubscribers"]; f != 4 {
		t.Fatalf("countSubscribers calls = %d, want 4 (no call hit an expired token)", f)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	tests := []struct {
		name      string
		rule      faults.Rule
		wantWaits []time.Duration // nil: any backoff
	}{
		{"429 honours Retry-After", faults.Rule{Operation: "countSubscribers", Kind: faults.Status, Status: 429, RetryAfterSeconds: 2, Count: 1}, []time.Duration{2 * time.Second}},
		{"500 without envelope", faults.Rule{Operation: "countSubscribers", Kind: faults.Status, Status: 500, Count: 2}, nil},
		{"503", faults.Rule{Operation: "countSubscribers", Kind: faults.Status, Status: 503, Count: 1}, nil},
		{"dropped connection", faults.Rule{Operation: "countSubscribers", Kind: faults.Drop, Count: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addFault(t, tt.rule)
			n, err := e.client.CountSubscribers(context.Background(), demo, newsletterDB)
			if err != nil || n != 3 {
				t.Fatalf("count = %d, %v", n, err)
			}
			if got, want := e.count("countSubscribers"), tt.rule.Count+1; got != want {
				t.Fatalf("countSubscribers calls = %d, want %d", got, want)
			}
			if tt.wantWaits != nil && !slices.Equal(e.sleeps.all(), tt.wantWaits) {
				t.Fatalf("waits = %v, want %v", e.sleeps.all(), tt.wantWaits)
			}
		})
	}
}

func TestPersistentFailureIsTemporaryAfterAttempts(t *testing.T) {
	e := newEnv(t)
	e.addFault(t, faults.Rule{Operation: "countSubscribers", Kind: faults.Status, Status: 502, Rate: 1})
	_, err := e.client.CountSubscribers(context.Background(), demo, newsletterDB)
	var se *contactsend.StatusError
	if !errors.As(err, &se) || se.StatusCode != 502 || !retry.Temporary(err) {
		t.Fatalf("got %v, want a temporary *StatusError 502", err)
	}
	if got := e.count("countSubscribers"); got != 4 {
		t.Fatalf("attempts = %d, want 4", got)
	}
}

func TestAddSubscriberIsNotRepeatedAfterAmbiguousFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	anna := contactsend.Subscriber{Attributes: []contactsend.Attribute{{Key: "EMAIL", Value: contactsend.StringValue("anna@example.com")}}}

	// Dropped before the simulator acted: the add is not retried blindly.
	e.addFault(t, faults.Rule{Operation: "addSubscriber", Kind: faults.Drop, Count: 1})
	_, err := e.client.AddSubscriber(ctx, demo, newsletterDB, anna)
	if !errors.Is(err, contactsend.ErrOutcomeUnknown) || !retry.Temporary(err) {
		t.Fatalf("got %v, want a temporary ErrOutcomeUnknown", err)
	}
	if got := e.count("addSubscriber"); got != 1 {
		t.Fatalf("addSubscriber calls = %d, want 1", got)
	}

	// Throttled: certainly not processed, so retried.
	e.addFault(t, faults.Rule{Operation: "addSubscriber", Kind: faults.Status, Status: 429, Count: 1})
	added, err := e.client.AddSubscriber(ctx, demo, newsletterDB, anna)
	if err != nil || added.ID == 0 {
		t.Fatalf("add after 429: %+v, %v", added, err)
	}
	if got := e.count("addSubscriber"); got != 3 {
		t.Fatalf("addSubscriber calls = %d, want 3", got)
	}
}

// dropAfterServing lets the simulator act on the next addSubscriber and then
// breaks the connection, the worst case for a non-idempotent call.
type dropAfterServing struct {
	sim  http.Handler
	mu   sync.Mutex
	drop int
}

func (d *dropAfterServing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	drop := d.drop > 0
	if drop {
		d.drop--
	}
	d.mu.Unlock()
	if !drop {
		d.sim.ServeHTTP(w, r)
		return
	}
	d.sim.ServeHTTP(httptest.NewRecorder(), r)
	faults.DropConnection(w)
}

func TestAddSubscriberOnceFindsTheSubscriberAnAmbiguousAddCreated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dropper := &dropAfterServing{sim: e.sim}
	srv := httptest.NewServer(dropper)
	defer srv.Close()
	c, err := contactsend.New(contactsend.Config{Endpoint: srv.URL + sendsim.ServicePath, Clock: e.clock.Now,
		Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond, Sleep: e.sleeps.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	anna := contactsend.Subscriber{Attributes: []contactsend.Attribute{
		{Key: "EMAIL", Value: contactsend.StringValue("anna@example.com")},
		{Key: "FIRST_NAME", Value: contactsend.StringValue("Anna")},
	}}
	if err := c.CheckCredentials(ctx, demo); err != nil {
		t.Fatal(err)
	}
	dropper.drop = 1
	// findSubscribersBy (nothing), addSubscriber (created, then dropped),
	// findSubscribersBy (found).
	got, created, err := c.AddSubscriberOnce(ctx, demo, newsletterDB, anna, "EMAIL")
	if err != nil || !created || got.ID == 0 {
		t.Fatalf("AddSubscriberOnce = %+v, %v, %v", got, created, err)
	}
	subs, _ := e.sim.Subscribers(newsletterDB)
	if len(subs) != 4 {
		t.Fatalf("userDb has %d subscribers, want 4 (no duplicate)", len(subs))
	}
	again, created, err := c.AddSubscriberOnce(ctx, demo, newsletterDB, anna, "EMAIL")
	if err != nil || created || again.ID != got.ID {
		t.Fatalf("second AddSubscriberOnce = %+v, %v, %v; want the existing one", again, created, err)
	}
	if n := e.count("addSubscriber"); n != 1 {
		t.Fatalf("addSubscriber calls = %d, want 1", n)
	}
}

func TestRemoveAfterAmbiguousFailureSucceeds(t *testing.T) {
	e := newEnv(t)
	dropper := &dropAfterServing{sim: e.sim}
	srv := httptest.NewServer(dropper)
	defer srv.Close()
	c, err := contactsend.New(contactsend.Config{Endpoint: srv.URL + sendsim.ServicePath, Clock: e.clock.Now,
		Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond, Sleep: e.sleeps.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dropper.drop = 0
	if err := c.CheckCredentials(ctx, demo); err != nil {
		t.Fatal(err)
	}
	dropper.mu.Lock()
	dropper.drop = 1
	dropper.mu.Unlock()
	if err := c.RemoveSubscriber(ctx, demo, newsletterDB, marioID); err != nil {
		t.Fatalf("remove with a dropped answer: %v", err)
	}
	if _, err := e.sim.Subscriber(newsletterDB, marioID); err == nil {
		t.Fatal("subscriber still there")
	}
}

func TestContextCancellation(t *testing.T) {
	e := newEnv(t)
	if err := e.client.CheckCredentials(context.Background(), demo); err != nil {
		t.Fatal(err)
	}
	e.addFault(t, faults.Rule{Operation: "countSubscribers", Kind: faults.Latency, Latency: time.Minute, Count: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.client.CountSubscribers(ctx, demo, newsletterDB)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for e.count("countSubscribers") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the simulator")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancellation did not end the call")
	}
	if got := e.count("countSubscribers"); got != 1 {
		t.Fatalf("countSubscribers calls = %d, want 1 (no retry after cancel)", got)
	}
}

// A caller's deadline that ends while an add is on the wire leaves its
// outcome unknown: the add may still land, so the caller must look before
// adding again.
func TestDeadlineDuringAddLeavesOutcomeUnknown(t *testing.T) {
	e := newEnv(t)
	if err := e.client.CheckCredentials(context.Background(), demo); err != nil {
		t.Fatal(err)
	}
	e.addFault(t, faults.Rule{Operation: "addSubscriber", Kind: faults.Latency, Latency: time.Minute, Count: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := e.client.AddSubscriber(ctx, demo, newsletterDB, contactsend.Subscriber{Attributes: []contactsend.Attribute{
		{Key: "EMAIL", Value: contactsend.StringValue("late@example.com")},
	}})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, contactsend.ErrOutcomeUnknown) {
		t.Fatalf("got %v, want context.DeadlineExceeded and ErrOutcomeUnknown", err)
	}
	if got := e.count("addSubscriber"); got != 1 {
		t.Fatalf("addSubscriber calls = %d, want 1", got)
	}
}

func TestPerCallTimeoutIsRetried(t *testing.T) {
	e := newEnv(t, func(_ *sendsim.Seed, cfg *contactsend.Config) { cfg.Timeout = 50 * time.Millisecond })
	if err := e.client.CheckCredentials(context.Background(), demo); err != nil {
		t.Fatal(err)
	}
	e.addFault(t, faults.Rule{Operation: "getSubscriber", Kind: faults.Latency, Latency: 10 * time.Second, Count: 1})
	s, err := e.client.GetSubscriber(context.Background(), demo, newsletterDB, marioID)
	if err != nil || s.ID != marioID {
		t.Fatalf("get = %+v, %v", s, err)
	}
	if got := e.count("getSubscriber"); got != 2 {
		t.Fatalf("getSubscriber calls = %d, want 2", got)
	}
}

func TestInjectedSOAPFaultIsPermanent(t *testing.T) {
	e := newEnv(t)
	e.addFault(t, faults.Rule{Operation: "getSubscriberSource", Kind: faults.SOAPFault, Message: "java.lang.NullPointerException", Count: 1})
	_, err := e.client.SubscriberSource(context.Background(), demo, newsletterDB)
	var f *contactsend.Fault
	if !errors.As(err, &f) || f.Reason != "java.lang.NullPointerException" || f.Code != "Receiver" {
		t.Fatalf("got %v, want the injected fault", err)
	}
	if got := e.count("getSubscriberSource"); got != 1 {
		t.Fatalf("calls = %d, want 1", got)
	}
}

func TestCloseInvalidatesTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, cred := range []contactsend.Credentials{demo, other} {
		if err := e.client.CheckCredentials(ctx, cred); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.count("invalidateToken"); got != 2 {
		t.Fatalf("invalidateToken calls = %d, want 2", got)
	}
	// Usable again: a new token is borrowed.
	if _, err := e.client.CountSubscribers(ctx, demo, newsletterDB); err != nil {
		t.Fatal(err)
	}
	if got := e.count("borrowToken"); got != 3 {
		t.Fatalf("borrowToken calls = %d, want 3", got)
	}
}

func TestCredentialsAreNotPrinted(t *testing.T) {
	s := demo.String()
	if s == "" || strings.Contains(s, demo.APIKey) || strings.Contains(s, demo.UserKey) {
		t.Fatalf("Credentials.String() = %q leaks a key", s)
	}
}
