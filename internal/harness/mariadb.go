package harness

// mariadb.go: a private MariaDB server.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// defaultMariaDBUser is the admin account Start creates.
const defaultMariaDBUser = "cellar_admin"

// MariaDBOptions configures StartMariaDB.
type MariaDBOptions struct {
	// Dir is the instance directory, created if missing. It holds the data
	// directory data/, the socket mysqld.sock and the pid file mysqld.pid.
	// If data/ holds no system tables yet, mariadb-install-db is run.
	// Required.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// User is the admin account; default "cellar_admin". Letters, digits
	// and underscores only.
	User string
	// Password is the admin's password. Empty generates one, which is only
	// possible for a new data directory.
	Password string
	// Durable keeps InnoDB's crash-safety settings. When false, the log is
	// not flushed at commit, the doublewrite buffer is off and InnoDB never
	// calls fsync.
	Durable bool
	// Bin is mariadbd; default from PATH, else /usr/sbin/mariadbd.
	Bin string
	// InstallDBBin is mariadb-install-db; default from PATH, else
	// /usr/bin/mariadb-install-db.
	InstallDBBin string
	// LogPath receives the installer's and the server's output. Default:
	// Dir + ".log".
	LogPath string
	// ExtraListen are addresses to listen on besides 127.0.0.1 (for tests
	// whose clients live in network namespaces).
	ExtraListen []string
	// ExtraArgs are appended to the server's command line, after the
	// harness's own (tests that need a server configured otherwise).
	ExtraArgs []string
	// Logger may be nil.
	Logger *slog.Logger
}

// MariaDB is a running MariaDB server started by StartMariaDB.
type MariaDB struct {
	DataDir string
	Host    string // always "127.0.0.1"
	Port    int
	// User has ALL PRIVILEGES ON *.* WITH GRANT OPTION, from 127.0.0.1
	// over TCP and from localhost over the socket. The root account is
	// locked.
	User     string
	Password string
	Socket   string
	Version  string // e.g. "10.11.19", without the distribution suffix

	opts MariaDBOptions // how it was started, for Restart
	life
}

// DSN returns a go-sql-driver/mysql DSN that connects to database as the
// admin over TCP, e.g. "cellar_admin:PW@tcp(127.0.0.1:3306)/db?parseTime=true".
// database may be empty.
func (m *MariaDB) DSN(database string) string {
	c := mysql.NewConfig()
	c.User = m.User
	c.Passwd = m.Password
	c.Net = "tcp"
	c.Addr = net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	c.DBName = database
	c.ParseTime = true
	return c.FormatDSN()
}

// Stop shuts the server down with SIGTERM and waits up to about ten
// seconds, or until ctx ends, before killing it.
func (m *MariaDB) Stop(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.life.stop(ctx)
}

var mariaDBUserRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,80}$`)

// StartMariaDB initialises the data directory if needed, starts the server,
// waits until it accepts connections and makes sure the admin account
// exists.
func StartMariaDB(ctx context.Context, o MariaDBOptions) (*MariaDB, error) {
	const name = "mariadb"
	began := time.Now()
	if o.Dir == "" {
		return nil, fmt.Errorf("%s: MariaDBOptions.Dir is required", name)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if o.User == "" {
		o.User = defaultMariaDBUser
	}
	if !mariaDBUserRE.MatchString(o.User) {
		return nil, fmt.Errorf("%s: admin user name %q: use letters, digits and underscores", name, o.User)
	}
	if o.Bin == "" {
		o.Bin = lookPathOr("mariadbd", "/usr/sbin/mariadbd")
	}
	if o.InstallDBBin == "" {
		o.InstallDBBin = lookPathOr("mariadb-install-db", "/usr/bin/mariadb-install-db")
	}
	if o.LogPath == "" {
		o.LogPath = dir + ".log"
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	as, err := serviceUser("mysql")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// The server creates its socket and pid file in dir, so dir is the
	// service user's; 0750 keeps other users away from the socket.
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := as.chown(dir); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkTraversable(dir, as); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// A private tmpdir: with the shared /tmp, concurrent installs (parallel
	// test packages) were seen to trip over each other's temporary tables.
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := as.chown(filepath.Join(dir, "tmp")); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m := &MariaDB{
		DataDir: filepath.Join(dir, "data"),
		Host:    "127.0.0.1",
		User:    o.User,
		Socket:  filepath.Join(dir, "mysqld.sock"),
	}
	if err := checkSocketPath(m.Socket); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	// A remembered port that is taken fails before any slow work.
	if o.Port != 0 {
		if err := checkPortFree(name, o.Port); err != nil {
			return nil, err
		}
	}

	_, err = os.Stat(filepath.Join(m.DataDir, "mysql"))
	fresh := errors.Is(err, fs.ErrNotExist)
	switch {
	case err != nil && !fresh:
		return nil, fmt.Errorf("%s: %w", name, err)
	case fresh:
		if o.Password == "" {
			o.Password = randomPassword()
		}
		if err := installMariaDB(ctx, o, dir, m.DataDir, as); err != nil {
			return nil, err
		}
		logger.Info("initialised mariadb data directory", "dir", m.DataDir)
	case o.Password == "":
		return nil, fmt.Errorf("%s: %s is already initialised; the admin password is required", name, m.DataDir)
	}
	m.Password = o.Password

	proc, err := withPortRetry(name, o.Port, func(port int) (*process, error) {
		m.Port = port
		return launchMariaDB(ctx, o, m, dir, as)
	})
	if err != nil {
		return nil, err
	}
	m.life.proc = proc
	m.opts = o
	if err := setupMariaDB(ctx, m); err != nil {
		proc.kill()
		return nil, proc.failure("%v", err)
	}
	logger.Info("mariadb ready", "port", m.Port, "version", m.Version,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return m, nil
}

func lookPathOr(file, fallback string) string {
	if p, err := exec.LookPath(file); err == nil {
		return p
	}
	return fallback
}

// mariaDBFlags are the server settings shared by the installer's bootstrap
// run and the server itself.
func mariaDBFlags(o MariaDBOptions) []string {
	// utf8mb4 is what Debian's packaged configuration sets; with
	// --no-defaults the compiled-in default would be latin1.
	flags := []string{
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
	}
	if !o.Durable {
		flags = append(flags,
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-doublewrite=0",
			"--innodb-flush-method=nosync",
		)
	}
	return flags
}

// installMariaDB creates the system tables. root@localhost gets an empty
// password ("normal" authentication) so that setupMariaDB can log in once
// over the socket, create the admin and lock root.
func installMariaDB(ctx context.Context, o MariaDBOptions, dir, dataDir string, as *osUser) error {
	// --no-defaults must come first: without it the installer and the
	// server read /etc/mysql/my.cnf, i.e. the host service's settings.
	args := []string{
		"--no-defaults",
		"--datadir=" + dataDir,
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
	}
	args = append(args, mariaDBFlags(o)...)
	return runOnce(ctx, procSpec{
		name:    "mariadb",
		bin:     o.InstallDBBin,
		args:    args,
		dir:     dir,
		env:     childEnv(dir),
		as:      as,
		logPath: o.LogPath,
	})
}

// launchMariaDB starts the server on m.Port and waits until it accepts TCP
// connections.
func launchMariaDB(ctx context.Context, o MariaDBOptions, m *MariaDB, dir string, as *osUser) (*process, error) {
	args := []string{
		"--no-defaults",
		"--datadir=" + m.DataDir,
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=" + strings.Join(append([]string{"127.0.0.1"}, o.ExtraListen...), ","),
		"--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--skip-name-resolve",
		"--skip-log-bin",
		"--max-connections=500",
		// With symbolic links on, any user with CREATE on its own database
		// can put a table's files anywhere the server may write (CREATE
		// TABLE … DATA DIRECTORY / INDEX DIRECTORY needs no FILE privilege
		// in MariaDB). provision refuses to create databases on a server
		// that allows it.
		"--skip-symbolic-links",
	}
	args = append(args, mariaDBFlags(o)...)
	args = append(args, o.ExtraArgs...)
	raiseChildFileLimit()
	proc, err := startProcess(procSpec{
		name:    "mariadb",
		bin:     o.Bin,
		args:    args,
		dir:     dir,
		env:     childEnv(dir),
		as:      as,
		logPath: o.LogPath,
		stopSig: syscall.SIGTERM,
	})
	if err != nil {
		return nil, err
	}
	// mariadbd opens its listeners only once InnoDB and the grant tables
	// are loaded, so any answer from the server means ready, including
	// "access denied" before the admin account exists. A login attempt
	// rather than a bare TCP dial keeps an "Aborted connection" warning
	// out of the log at every start.
	err = proc.waitReady(ctx, func(ctx context.Context) (bool, error) {
		db, err := sql.Open("mysql", m.DSN(""))
		if err != nil {
			return false, err
		}
		defer db.Close()
		err = db.PingContext(ctx)
		var me *mysql.MySQLError
		if err == nil || errors.As(err, &me) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		proc.kill()
		return nil, err
	}
	return proc, nil
}

// setupMariaDB makes sure the admin account exists with the right password
// and privileges, removes anonymous and non-local root accounts and locks
// root. It first tries the admin account over TCP; only a server where that
// fails (a fresh install, or a start interrupted before setup finished) is
// set up as root over the socket. Every statement is idempotent.
func setupMariaDB(ctx context.Context, m *MariaDB) error {
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	if adminErr := db.PingContext(ctx); adminErr != nil {
		var me *mysql.MySQLError
		if !errors.As(adminErr, &me) || me.Number != 1045 { // 1045: access denied
			return fmt.Errorf("connect as %s: %w", m.User, adminErr)
		}
		db.Close()
		rc := mysql.NewConfig()
		rc.User = "root"
		rc.Net = "unix"
		rc.Addr = m.Socket
		db, err = sql.Open("mysql", rc.FormatDSN())
		if err != nil {
			return err
		}
		defer db.Close()
		if rerr := db.PingContext(ctx); rerr != nil {
			return fmt.Errorf("neither %s over TCP (%v) nor root over the socket (%v) can log in; "+
				"does the admin password in state match this data directory?", m.User, adminErr, rerr)
		}
	}
	// Keep to one connection: the statements below are a sequence.
	db.SetMaxOpenConns(1)

	pw := sqlString(m.Password)
	var stmts []string
	for _, host := range []string{"127.0.0.1", "localhost"} {
		acct := fmt.Sprintf("'%s'@'%s'", m.User, host)
		stmts = append(stmts,
			"CREATE USER IF NOT EXISTS "+acct+" IDENTIFIED BY "+pw,
			"ALTER USER "+acct+" IDENTIFIED BY "+pw,
			"GRANT ALL PRIVILEGES ON *.* TO "+acct+" WITH GRANT OPTION",
		)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("set up admin account: %s: %w", strings.SplitN(s, " IDENTIFIED", 2)[0], err)
		}
	}

	// mariadb-install-db creates root for localhost, 127.0.0.1, ::1 and the
	// host name, without passwords, and anonymous accounts. Only
	// root@localhost is kept, locked: the admin is the way in, and a
	// passwordless TCP root would be open to every local user.
	rows, err := db.QueryContext(ctx,
		"SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	var drop []string
	for rows.Next() {
		var u, h string
		if err := rows.Scan(&u, &h); err != nil {
			rows.Close()
			return err
		}
		drop = append(drop, sqlString(u)+"@"+sqlString(h))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, acct := range drop {
		if _, err := db.ExecContext(ctx, "DROP USER IF EXISTS "+acct); err != nil {
			return fmt.Errorf("drop account %s: %w", acct, err)
		}
	}
	var hasRoot bool
	if err := db.QueryRowContext(ctx,
		"SELECT COUNT(*) > 0 FROM mysql.user WHERE User = 'root' AND Host = 'localhost'").Scan(&hasRoot); err != nil {
		return fmt.Errorf("look for root: %w", err)
	}
	if hasRoot {
		if _, err := db.ExecContext(ctx, "ALTER USER 'root'@'localhost' ACCOUNT LOCK"); err != nil {
			return fmt.Errorf("lock root: %w", err)
		}
	}

	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	// "10.11.19-MariaDB-0+deb12u1" -> "10.11.19"
	m.Version, _, _ = strings.Cut(v, "-")
	return nil
}

// sqlString quotes s as a MariaDB string literal. The server runs with the
// default sql_mode, in which backslash is an escape character.
func sqlString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "'" + s + "'"
}

var raiseFileLimitOnce sync.Once

// raiseChildFileLimit lets children inherit a soft open-files limit equal
// to the hard one. mariadbd asks for tens of thousands of descriptors; when
// it cannot get them (unprivileged, and the request is above the hard
// limit) it keeps the soft limit, often 1024, and shrinks the table cache
// (from 2000 to about 250 with 500 connections) and, if that is not
// enough, max_connections. The Go runtime has already raised its own soft
// limit to the hard one at startup but gives children the original;
// setting the limit explicitly makes children inherit the raised one.
// Other programs started by this process inherit it too, which is
// harmless.
func raiseChildFileLimit() {
	raiseFileLimitOnce.Do(func() {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
			rl.Cur = rl.Max
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	})
}
