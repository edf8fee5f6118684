package secrets_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/cellar/cellar/internal/cellar"
	"github.com/cellar/cellar/internal/secrets"
)

// TestVaultDown_IsUnavailable: every call to a Vault nobody listens for
// answers an unavailable error that names the secret store, whatever the
// operation.
func TestVaultDown_IsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Vault (run without -short)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	v, err := secrets.Open(secrets.Config{Addr: addr, Token: "t", Mount: "secret", Prefix: "cellar"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, putErr := v.Put(ctx, "a", map[string]any{"password": "x"})
	_, _, getErr := v.Get(ctx, "a")
	for name, err := range map[string]error{"put": putErr, "get": getErr, "destroy": v.Destroy(ctx, "a"), "ping": v.Ping(ctx)} {
		var e *cellar.Error
		if !errors.As(err, &e) || e.Code != cellar.CodeUnavailable || e.Message != "the secret store (Vault) is unavailable" || e.RetryAfter <= 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}
