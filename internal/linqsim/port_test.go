//go:build unix

package linqsim_test

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// closedPort is a loopback port that is bound but not listening: connections
// to it are refused, and no other socket can take it until listen turns it
// into a listener on the same address. That lets a test bring a webhook
// target up where connections were refused, without a race for the port.
type closedPort struct {
	addr string
	fd   int
}

func reservePort(t *testing.T) *closedPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatalf("getsockname: %v", err)
	}
	p := &closedPort{addr: "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port), fd: fd}
	t.Cleanup(func() {
		if p.fd >= 0 {
			syscall.Close(p.fd)
		}
	})
	return p
}

// listen starts accepting on the reserved address; the caller closes the
// listener.
func (p *closedPort) listen(t *testing.T) net.Listener {
	t.Helper()
	if err := syscall.Listen(p.fd, 128); err != nil {
		t.Fatalf("listen on %s: %v", p.addr, err)
	}
	f := os.NewFile(uintptr(p.fd), p.addr)
	p.fd = -1 // f owns the descriptor now
	defer f.Close()
	ln, err := net.FileListener(f) // a duplicate of the descriptor
	if err != nil {
		t.Fatalf("listener on %s: %v", p.addr, err)
	}
	return ln
}
