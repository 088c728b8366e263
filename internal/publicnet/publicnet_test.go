package publicnet_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/hubsend/hubsend/internal/publicnet"
)

// TestPublicnetRefusesWhatTheNameCheckCannotSee checks the dialer on its
// own: an IP literal of each non-public kind is refused before any
// connection, with an error callers can recognise.
func TestPublicnetRefusesWhatTheNameCheckCannotSee(t *testing.T) {
	client := &http.Client{Transport: publicnet.Transport()}
	for _, addr := range []string{"127.0.0.1", "[::1]", "10.0.0.1", "169.254.169.254", "[::ffff:127.0.0.1]"} {
		_, err := client.Get("http://" + addr + ":1/")
		if !errors.Is(err, publicnet.ErrNotPublic) {
			t.Errorf("GET %s: %v, want ErrNotPublic", addr, err)
		}
	}
	for _, tt := range []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true}, {"2a00:1450:4001::1", true}, {"127.0.0.1", false}, {"10.1.2.3", false},
		{"172.16.0.1", false}, {"192.168.1.1", false}, {"169.254.169.254", false}, {"100.64.0.1", false},
		{"0.0.0.0", false}, {"::1", false}, {"fd00::1", false}, {"fe80::1", false}, {"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"255.255.255.255", false}, {"224.0.0.1", false},
	} {
		if got := publicnet.Addr(netip.MustParseAddr(tt.ip)); got != tt.public {
			t.Errorf("Addr(%s) = %v, want %v", tt.ip, got, tt.public)
		}
	}
}

// connectProxy is an HTTP proxy that records the CONNECT targets it is
// asked for and refuses them all.
type connectProxy struct {
	mu      sync.Mutex
	targets []string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.targets = append(p.targets, r.Method+" "+r.Host)
	p.mu.Unlock()
	http.Error(w, "refused by the test proxy", http.StatusForbidden)
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

// TestPublicnetThroughAProxy: a deployment that reaches the internet only
// through a proxy (HTTPS_PROXY) can still call public hosts: the proxy,
// on a private address the operator chose, is reached; but a target that
// is not public is refused before the proxy hears of it, since the proxy,
// not the dialer's check, would connect to it.
func TestPublicnetThroughAProxy(t *testing.T) {
	proxy := &connectProxy{}
	server := httptest.NewServer(proxy) // on 127.0.0.1: a private address
	t.Cleanup(server.Close)
	via, err := url.Parse(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: publicnet.TransportVia(http.ProxyURL(via))}
	// 203.0.113.10 (documentation range) counts as public; the proxy
	// refuses it, which is enough to see it was asked.
	if _, err := client.Get("https://203.0.113.10/"); err == nil {
		t.Fatal("the test proxy's refusal was not reported")
	}
	if got := proxy.seen(); !slices.Equal(got, []string{"CONNECT 203.0.113.10:443"}) {
		t.Fatalf("the proxy was asked for %v, want the public target", got)
	}
	for _, target := range []string{"https://127.0.0.1:9/", "https://169.254.169.254/latest/meta-data/", "https://localhost:9/", "http://[::1]:9/"} {
		if _, err := client.Get(target); !errors.Is(err, publicnet.ErrNotPublic) {
			t.Errorf("GET %s through the proxy: %v, want ErrNotPublic", target, err)
		}
	}
	if got := proxy.seen(); len(got) != 1 {
		t.Fatalf("the proxy was asked for targets that are not public: %v", got)
	}
}
