package publicnet_test

import (
	"errors"
	"net/http"
	"net/netip"
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
