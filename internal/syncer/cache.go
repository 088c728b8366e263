package syncer

import (
	"sync"
	"time"
)

// ttlCache holds values by key for a time. Concurrent misses of one key
// may both load; the later store wins, which is harmless for the
// configuration it holds.
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlItem[V]
}

type ttlItem[V any] struct {
	v  V
	at time.Time
}

// get returns the value of key while it is younger than ttl at now;
// otherwise it loads, stores and returns a fresh one. A failed load is
// not stored.
func (c *ttlCache[V]) get(key string, now time.Time, ttl time.Duration, load func() (V, error)) (V, error) {
	c.mu.Lock()
	it, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(it.at) < ttl {
		return it.v, nil
	}
	v, err := load()
	if err != nil {
		var zero V
		return zero, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]ttlItem[V])
	}
	c.m[key] = ttlItem[V]{v: v, at: now}
	c.mu.Unlock()
	return v, nil
}
