// Package publicnet keeps the calls hubsend makes to hosts an admin chose
// (a workspace's Contacthub, a source's alert webhook) on the public
// internet. The check of a URL when it is saved sees only its host name,
// and a name may resolve to this machine, the cloud's metadata service or
// a private network, then or at any later time. Control checks the address
// each connection actually goes to, after resolution and on every redirect.
package publicnet

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotPublic is the error of a connection refused by Control.
var ErrNotPublic = errors.New("the address is not a public internet address")

// Addr reports whether ip is a public unicast address: not loopback,
// private, link-local (which holds the cloud's metadata service),
// multicast, unspecified, nor in a range reserved for other uses.
func Addr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range notPublic() {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// notPublic are the ranges, beyond the ones netip names, that reach no
// public host, or embed an IPv4 address that may be a private one.
func notPublic() [9]netip.Prefix {
	return [...]netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
		netip.MustParsePrefix("64:ff9b::/96"),   // NAT64
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
		netip.MustParsePrefix("2002::/16"),      // 6to4
		netip.MustParsePrefix("fec0::/10"),      // site-local
	}
}

// Control is a net.Dialer Control function: it refuses a connection to
// an address Addr does not call public.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%s: %w", address, ErrNotPublic)
	}
	if !Addr(ap.Addr()) {
		return fmt.Errorf("%s: %w", ap.Addr(), ErrNotPublic)
	}
	return nil
}

// Transport returns an HTTP transport whose connections go to public
// addresses only. It uses no proxy: through one, the proxy would choose
// the address, out of Control's sight.
func Transport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: Control}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}
