package pgtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
)

// freePort picks a free loopback port below the kernel's ephemeral range
// (as scripts/pg.sh does): a port from inside it can be taken as the local
// end of any client connection on the box while the cluster is down for a
// restart, and the server's bind then fails.
func freePort() (int, error) {
	lo, hi := portRange()
	for range 200 {
		p := lo + rand.IntN(hi-lo+1) //nolint:gosec // spreading ports, not a secret
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi)
}

func portRange() (lo, hi int) {
	eph := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var h int
		if _, err := fmt.Sscan(string(b), &eph, &h); err != nil {
			eph = 32768
		}
	}
	if eph > 20000 {
		return eph - 8000, eph - 1
	}
	return 54329, 54999
}
