package faults

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Profile gives every call a service time, so that figures measured against
// the simulators reflect the wire and the remote service rather than how
// fast this machine answers in memory. A call to operation op serving items
// records (a page's size, a bulk call's subscribers) takes
//
//	(Base[op] + items × PerItem[op]) × exp(Sigma × N(0,1))
//
// with Base[""] for an operation not listed. The log-normal factor has a
// median of 1 and, with Sigma 0.3, a 99th percentile near 2: the long right
// tail of real network calls, never a negative time.
type Profile struct {
	Base    map[string]time.Duration
	PerItem map[string]time.Duration
	Sigma   float64
}

// ContactsendProfile is the service time of Contactsend's SOAP API as seen
// from a Lambda in an EU region. No figures are published (the reference
// has none); the values are assumptions, stated so they can be challenged:
// a TLS-kept-alive round trip to Italy of about 30 ms, plus the server's
// JAX-WS and MySQL work, more for writes than reads and a few milliseconds
// per row for pages and bulk inserts.
func ContactsendProfile() *Profile {
	ms := time.Millisecond
	return &Profile{
		Base: map[string]time.Duration{
			"":                                   60 * ms,
			"borrowToken":                        120 * ms,
			"keepaliveToken":                     40 * ms,
			"invalidateToken":                    40 * ms,
			"getSubscriber":                      50 * ms,
			"findSubscribers":                    70 * ms,
			"findSubscribersBy":                  70 * ms,
			"addSubscriber":                      90 * ms,
			"updateSubscriber":                   90 * ms,
			"removeSubscriber":                   80 * ms,
			"modifySubscriberSubscriptionStatus": 80 * ms,
			"addSubscribers":                     150 * ms,
		},
		PerItem: map[string]time.Duration{
			"findSubscribersBy": ms / 4, // rows returned (or asked for)
			"addSubscribers":    4 * ms, // one INSERT and its indexes per subscriber
		},
		Sigma: 0.3,
	}
}

// ContacthubProfile is the service time of Contacthub's REST API: an
// AWS-hosted service in the EU behind a load balancer, about 20 ms of round
// trip plus a search-backed read. As for Contactsend, these are stated
// assumptions, not published figures.
func ContacthubProfile() *Profile {
	ms := time.Millisecond
	return &Profile{
		Base: map[string]time.Duration{
			"":               60 * ms,
			"customers.get":  60 * ms,
			"customers.list": 120 * ms,
			"updates.get":    150 * ms,
		},
		PerItem: map[string]time.Duration{
			"customers.list": 4 * ms, // customers serialised per page
		},
		Sigma: 0.3,
	}
}

// serviceTimer draws service times from a profile.
type serviceTimer struct {
	mu      sync.Mutex
	rng     *rand.Rand
	profile *Profile
}

// SetProfile installs a latency profile (nil removes it).
func (i *Injector) SetProfile(p *Profile) {
	i.service.mu.Lock()
	defer i.service.mu.Unlock()
	i.service.profile = p
	if i.service.rng == nil {
		i.service.rng = rand.New(rand.NewPCG(0x5eed, 0xfeed))
	}
}

// ServiceTime is how long the profile holds a call of op serving items
// records; zero without a profile.
func (i *Injector) ServiceTime(op string, items int) time.Duration {
	t := &i.service
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.profile
	if p == nil {
		return 0
	}
	base, ok := p.Base[op]
	if !ok {
		base = p.Base[""]
	}
	d := base + time.Duration(max(items, 0))*p.PerItem[op]
	return time.Duration(float64(d) * math.Exp(p.Sigma*t.rng.NormFloat64()))
}
