package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// MetricsOnRouter is the METRICS_ADDR value that serves /metrics on the main
// router behind the ops:read scope instead of on a listener of its own. An
// empty MetricsAddr (a Config built in code) means the same.
const MetricsOnRouter = "router"

// MetricsListenAddr is the address of the metrics listener, or "" when
// /metrics is served on the main router.
func (c Config) MetricsListenAddr() string {
	if c.MetricsAddr == MetricsOnRouter {
		return ""
	}
	return c.MetricsAddr
}

// TrustedProxyPrefixes parses TRUSTED_PROXIES: comma-separated CIDRs (or
// single addresses) of the load balancers whose X-Forwarded-For is believed.
func (c Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an IP address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or an IP address", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validateExposure checks the metrics listener, the trusted proxies and the
// throttle of failed key checks.
func (c Config) validateExposure() []error {
	var errs []error
	add := func(v, reason string) { errs = append(errs, &FieldError{Var: v, Reason: reason}) }
	if addr := c.MetricsListenAddr(); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			add("METRICS_ADDR", `must be host:port, or "router" to serve /metrics on the main listener behind ops:read`)
		} else if addr == c.HTTPAddr {
			add("METRICS_ADDR", "must differ from HTTP_ADDR")
		}
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		add("TRUSTED_PROXIES", err.Error())
	}
	if c.AuthFailuresPerMinute <= 0 {
		add("AUTH_FAILURES_PER_MINUTE", "must be positive")
	}
	return errs
}
