package testkit

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hubsend/hubsend/internal/publicnet"
)

// LocalTarget listens on this machine and returns an https address that
// reaches the listener through the machine's host name: not an IP literal
// nor "localhost", so it passes a check of the name the way an admin's
// address resolving to a private network would. connections counts the
// TCP connections made to it. The test is skipped when the host name does
// not resolve, or resolves to a public address.
func LocalTarget(t testing.TB) (target string, connections func() int32) {
	t.Helper()
	name, err := os.Hostname()
	if err != nil || name == "" || strings.EqualFold(name, "localhost") {
		t.Skip("no host name of this machine to resolve")
	}
	addrs, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip", name)
	if err != nil || len(addrs) == 0 {
		t.Skipf("the host name %q does not resolve: %v", name, err)
	}
	for _, a := range addrs {
		if publicnet.Addr(a) {
			t.Skipf("the host name %q resolves to the public address %s", name, a)
		}
	}
	listener, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	var count atomic.Int32
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			count.Add(1)
			conn.Close()
		}
	}()
	return "https://" + net.JoinHostPort(name, strconv.Itoa(listener.Addr().(*net.TCPAddr).Port)), count.Load
}
