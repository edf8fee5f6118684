package provisiontest

// Clients from a chosen loopback source address: Linux routes all of
// 127.0.0.0/8 to lo, so 127.0.0.2 and 127.0.0.3 are distinct clients to the
// servers.

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DialFrom returns a dialer whose connections come from the local address
// src (e.g. "127.0.0.2").
func DialFrom(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
}

var (
	mariaNetsMu sync.Mutex
	mariaNets   = map[string]bool{}
)

// MariaNetFrom registers (once) a go-sql-driver network whose connections
// come from src, and returns its name for Config.Net.
func MariaNetFrom(src string) string {
	name := "tcp-from-" + src
	mariaNetsMu.Lock()
	defer mariaNetsMu.Unlock()
	if !mariaNets[name] {
		d := DialFrom(src)
		mysql.RegisterDialContext(name, func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		})
		mariaNets[name] = true
	}
	return name
}
