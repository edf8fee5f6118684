package isolationtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"
)

// Named locks (GET_LOCK) are server-wide and need no privilege. Cellar
// serializes its MariaDB work with them, so a tenant holding Cellar's lock
// names could stall access changes for every database on the server, or
// another tenant's password rotation, create and delete. Cellar ends a
// foreign holder and goes on.
func TestTenant_MariaDB_CannotHoldCellarsLocks(t *testing.T) {
	e := need(t)
	t.Parallel()
	a, b := newTenant(t, e, "mariadb"), newTenant(t, e, "mariadb")
	conn := a.my(t)
	sum := sha256.Sum256([]byte(b.User))
	names := []string{"cellar:provision:access", "cellar:provision:user:" + hex.EncodeToString(sum[:16])}
	for _, name := range names {
		if got := myScalar[int64](t, conn, "SELECT GET_LOCK(?, 0)", name); got != 1 {
			t.Fatalf("setup: the tenant did not get lock %s", name)
		}
	}
	// B's rotation takes B's user lock; an access rule takes the access lock.
	start := time.Now()
	b.Customer.Expect(t, http.StatusOK, "POST", "/v1/databases/mariadb/"+b.DB+"/credentials/rotate", nil)
	b.Customer.Expect(t, http.StatusCreated, "POST", "/v1/databases/mariadb/"+b.DB+"/firewall",
		map[string]any{"ip_address": "192.0.2.10", "description": "lock test"})
	t.Logf("rotation and access rule done in %s with a tenant holding the locks", time.Since(start).Round(time.Millisecond))
	// The tenant's locking session was ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.PingContext(ctx); err == nil {
		if held := myScalar[int64](t, conn, "SELECT COUNT(*) FROM (SELECT 1 FROM DUAL WHERE IS_USED_LOCK(?) = CONNECTION_ID()) x", names[0]); held != 0 {
			t.Fatal("HOLE: the tenant still holds Cellar's access lock")
		}
	}
}
