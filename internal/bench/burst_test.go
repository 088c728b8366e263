package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/webhook"
)

// TestWebhookBurst fires a burst of signed Contacthub webhooks, each for a
// new customer, at the local stack's API gateway as fast as a pool of
// clients can send them. Every 2xx must become a synced customer (one
// subscriber holding its email); every other answer must be 429 or 503
// with Retry-After; no request may time out.
//
// Short: 500 requests. HUBSEND_LOAD=1: 10,000.
func TestWebhookBurst(t *testing.T) {
	requests, clients, within := 500, 32, 60*time.Second
	if full() {
		requests, clients, within = 10000, 128, 10*time.Minute
	}
	h := startHarness(t, Options{Customers: 20})
	stack := h.Stack
	status, created := stack.CallT(t, "POST", "/v1/sources", map[string]any{
		"name": "Burst", "nodes": []string{h.Node},
		"properties": map[string]any{
			"apiKey": devstack.DemoSendAPIKey, "userKey": devstack.DemoSendUserKey, "userDbId": devstack.DemoUserDB,
			"fieldMapping": []map[string]any{
				{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
				{"hubField": "base.firstName", "sendField": "FIRST_NAME"},
			},
		},
	})
	if status != http.StatusCreated {
		t.Fatalf("create source: %d %v", status, created)
	}
	sourceID := created["id"].(string)
	status, secret := stack.CallT(t, "POST", "/v1/sources/"+sourceID+"/webhook-secret", nil)
	if status != http.StatusCreated {
		t.Fatalf("webhook secret: %d %v", status, secret)
	}

	ids := make([]string, requests)
	emails := make([]string, requests)
	for i := range ids {
		emails[i] = fmt.Sprintf("burst.%05d@example.com", i)
		c, err := stack.Hub.PutCustomer(devstack.DemoHubWorkspace, map[string]any{
			"nodeId": h.Node, "base": map[string]any{"firstName": "Burst", "contacts": map[string]any{"email": emails[i]}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c["id"].(string)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	statuses := make([]int, requests)
	var problems sync.Map
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= requests {
					return
				}
				body := fmt.Sprintf(`{"customerId":%q,"eventType":"customerCreated","eventId":"burst-%d"}`, ids[i], i)
				req, _ := http.NewRequestWithContext(context.Background(), "POST", stack.APIURL+webhook.PathPrefix+sourceID, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(webhook.SignatureHeader, webhook.Sign(secret["secret"].(string), []byte(body)))
				resp, err := client.Do(req)
				if err != nil {
					problems.Store(i, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
				if resp.StatusCode >= 300 && !((resp.StatusCode == 429 || resp.StatusCode == 503) && resp.Header.Get("Retry-After") != "") {
					problems.Store(i, fmt.Sprintf("status %d without Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After")))
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	t.Logf("%d webhooks in %s (%.0f/s) from %d clients: statuses %v", requests, took.Round(time.Millisecond), float64(requests)/took.Seconds(), clients, count)
	problems.Range(func(k, v any) bool {
		t.Errorf("request %d: %v", k, v)
		return true
	})

	// Every accepted customer ends up with exactly one subscriber.
	check := func(context.Context) []string {
		subs, err := stack.Send.Subscribers(devstack.DemoUserDB)
		if err != nil {
			return []string{err.Error()}
		}
		held := map[string]int{}
		for _, s := range subs {
			held[strings.ToLower(fmt.Sprint(s.Attributes["EMAIL"]))]++
		}
		var out []string
		for i, s := range statuses {
			if s < 200 || s > 299 {
				continue
			}
			if got := held[emails[i]]; got != 1 {
				out = append(out, fmt.Sprintf("%s has %d subscribers", emails[i], got))
			}
		}
		if len(out) > 3 {
			out = append(out[:3], fmt.Sprintf("and %d more", len(out)-3))
		}
		return out
	}
	synced := time.Now()
	if problems := Eventually(t.Context(), within, check); len(problems) > 0 {
		t.Fatalf("accepted webhooks not synced: %v", problems)
	}
	t.Logf("every accepted customer synced %s after the burst", time.Since(synced).Round(time.Millisecond))
}
