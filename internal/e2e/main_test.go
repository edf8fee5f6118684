package e2e

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cellar/cellar/internal/netns"
)

// listenEnv makes the test binary a plain TCP listener (see listen).
const listenEnv = "CELLAR_E2E_LISTEN"

func TestMain(m *testing.M) {
	if addr := os.Getenv(listenEnv); addr != "" {
		serve(addr)
		return
	}
	_ = mysql.SetLogger(&mysql.NopLogger{})
	os.Exit(m.Run())
}

// serve accepts and closes connections until killed.
func serve(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	}
}

// listen runs a TCP listener on port inside ns (all addresses) by starting
// this test binary there, and returns how to stop it.
func listen(t *testing.T, ns *netns.Namespace, port int) func() {
	t.Helper()
	cmd := ns.Command(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), listenEnv+"=:"+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	// Probe from inside the namespace itself, over its own loopback.
	local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ns.CanConnect(context.Background(), local) {
			return stop
		}
	}
	stop()
	t.Fatal("listener in the firewall namespace did not come up")
	return nil
}
