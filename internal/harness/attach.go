package harness

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// ErrNotRunning is returned by Attach when no harness serves dir.
var ErrNotRunning = errors.New("harness: no running servers for this directory")

// Attach returns the servers that another process started on dir and is
// still running, without owning them: Stop on the result does nothing.
// Cellar's command-line tools use it while `make run` is serving, since a
// second Start on the same directory would find its ports taken.
func Attach(ctx context.Context, dir string) (*Services, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	sf, err := openState(dir)
	if err != nil {
		return nil, err
	}
	st := sf.get()
	token := st.Vault.RootToken
	if token == "" {
		token = st.Vault.DevToken
	}
	for _, port := range []int{st.MetadataPG.Port, st.ManagedPG.Port, st.MariaDB.Port, st.Vault.Port} {
		if port == 0 || !answers(ctx, port) {
			return nil, ErrNotRunning
		}
	}
	return &Services{
		Metadata: &Postgres{DataDir: filepath.Join(dir, metadataPGDir), Host: loopback, Port: st.MetadataPG.Port,
			User: pgSuperuser, Password: st.MetadataPG.Password, name: metadataPGDir},
		PG: &Postgres{DataDir: filepath.Join(dir, managedPGDir), Host: loopback, Port: st.ManagedPG.Port,
			User: pgSuperuser, Password: st.ManagedPG.Password, name: managedPGDir},
		MariaDB: &MariaDB{DataDir: filepath.Join(dir, mariaDBDir, "data"), Host: loopback, Port: st.MariaDB.Port,
			User: st.MariaDB.User, Password: st.MariaDB.Password, Socket: filepath.Join(dir, mariaDBDir, "mysqld.sock")},
		Vault: &Vault{Addr: "http://" + net.JoinHostPort(loopback, strconv.Itoa(st.Vault.Port)), Token: token, port: st.Vault.Port},
	}, nil
}

const loopback = "127.0.0.1"

func answers(ctx context.Context, port int) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
