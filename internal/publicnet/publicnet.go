// Package publicnet keeps the calls hubsend makes to hosts an admin chose
// (a workspace's Contacthub, a source's alert webhook) on the public
// internet. The check of a URL when it is saved sees only its host name,
// and a name may resolve to this machine, the cloud's metadata service or
// a private network, then or at any later time. Control checks the address
// each connection actually goes to, after resolution and on every redirect.
package publicnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
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
// addresses only, through the proxy the environment names (HTTPS_PROXY,
// HTTP_PROXY, NO_PROXY), as a deployment whose functions reach the
// internet only through one needs.
func Transport() http.RoundTripper { return TransportVia(http.ProxyFromEnvironment) }

// TransportVia is Transport with the proxy proxy chooses (nil: none).
// The proxy itself, which the operator named, may be a private address;
// a request that goes through it has its host resolved here first and is
// refused unless every address is public, since the proxy, not Control,
// then makes the connection. (A name that changes its answer between this
// lookup and the proxy's is the proxy's egress rules' to stop.)
func TransportVia(proxy func(*http.Request) (*url.URL, error)) http.RoundTripper {
	guarded := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: Control}
	plain := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 proxy,
		DialContext:           guarded.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	if proxy == nil {
		return t
	}
	t.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		if proxied, _ := ctx.Value(proxyKey{}).(string); proxied != "" && proxied == address {
			return plain.DialContext(ctx, network, address)
		}
		return guarded.DialContext(ctx, network, address)
	}
	return &proxiedTransport{next: t, proxy: proxy, resolver: net.DefaultResolver}
}

// proxyKey carries, in a request's context, the host:port of the proxy the
// request goes through: the one address its dial may reach unguarded.
type proxyKey struct{}

// proxiedTransport checks the target of a request that goes through a
// proxy, before the proxy connects to it.
type proxiedTransport struct {
	next     *http.Transport
	proxy    func(*http.Request) (*url.URL, error)
	resolver *net.Resolver
}

func (p *proxiedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	via, err := p.proxy(req)
	if err != nil || via == nil {
		return p.next.RoundTrip(req) // direct: Control checks the dial
	}
	host := req.URL.Hostname()
	addrs, err := p.resolve(req.Context(), host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if !Addr(a) {
			return nil, fmt.Errorf("%s (%s): %w", host, a, ErrNotPublic)
		}
	}
	port := via.Port()
	switch {
	case port != "":
	case via.Scheme == "https":
		port = "443"
	case strings.HasPrefix(via.Scheme, "socks5"): // socks5 and socks5h
		port = "1080"
	default:
		port = "80"
	}
	ctx := context.WithValue(req.Context(), proxyKey{}, net.JoinHostPort(via.Hostname(), port))
	return p.next.RoundTrip(req.WithContext(ctx))
}

func (p *proxiedTransport) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	return addrs, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport underneath.
func (p *proxiedTransport) CloseIdleConnections() { p.next.CloseIdleConnections() }
