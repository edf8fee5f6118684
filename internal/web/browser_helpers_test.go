package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/cellar/cellar/internal/testenv"
)

// chromiumPath is Debian's Chromium; the browser tests skip without it.
const chromiumPath = "/usr/bin/chromium"

// env is the shared Cellar with real servers.
var env *testenv.Env

func TestMain(m *testing.M) {
	// Tests connect with wrong passwords on purpose; the driver would log it.
	_ = mysql.SetLogger(&mysql.NopLogger{})
	if _, err := os.Stat(chromiumPath); err != nil {
		fmt.Fprintf(os.Stderr, "web: NO CHROMIUM at %s: the browser tests will be skipped (apt-get install chromium)\n", chromiumPath)
		os.Exit(m.Run())
	}
	// Sample metrics often, so the charts have a series within seconds.
	os.Exit(testenv.RunWith(m, &env, testenv.Options{Config: map[string]string{"CELLAR_METRICS_INTERVAL": "2s"}}))
}

// browser is one headless Chromium with a fresh profile, pointed at the
// shared Cellar. Every console error, uncaught exception and CSP violation
// fails the test when it ends.
type browser struct {
	t    *testing.T
	e    *testenv.Env
	ctx  context.Context
	mu   sync.Mutex
	msgs []string
	// allowed HTTP statuses the page may get (the browser logs each failed
	// request as a console error: an expected 422 is not a bug).
	allowed map[int]bool
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: SKIPPED with -short (needs Chromium and real servers)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test: SKIPPED: no Chromium at %s (apt-get install chromium)", chromiumPath)
	}
	e := testenv.Need(t, env)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	b := &browser{t: t, e: e, ctx: ctx, allowed: map[int]bool{}}
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// Report CSP violations on the console too, from before any page script.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber));`,
		})
		return err
	})); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			b.record(m)
		}
	}()
	t.Cleanup(func() {
		// Runs before the browser stops (cleanups run last first).
		time.Sleep(200 * time.Millisecond) // let the last console events arrive
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.msgs {
			t.Errorf("browser console: %s", m)
		}
	})
	return b
}

var failedStatus = regexp.MustCompile(`status of (\d{3})`)

func (b *browser) record(m chromedp.ConsoleMessage) {
	bad := m.IsException() || m.Type == chromedp.ConsoleError || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "CSP violation")
	if !bad {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.Source == "network" {
		if sm := failedStatus.FindStringSubmatch(m.Text); sm != nil {
			code, _ := strconv.Atoi(sm[1])
			if b.allowed[code] {
				return
			}
		}
	}
	text := m.Text
	if m.URL != "" {
		text += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	b.msgs = append(b.msgs, fmt.Sprintf("%s [%s]", text, m.Type))
}

// take returns the problems recorded so far and forgets them.
func (b *browser) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.msgs
	b.msgs = nil
	return m
}

// allow lets the page receive an API error status without failing the test.
func (b *browser) allow(statuses ...int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range statuses {
		b.allowed[s] = true
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatal("%s: %v", what, err)
	}
}

// fatal fails the test with what the page shows, to see why.
func (b *browser) fatal(format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
	b.saveFailureShot()
	b.t.Fatalf(format+"\n--- page text:\n%s", append(args, body)...)
}

func (b *browser) saveFailureShot() {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return
	}
	p := filepath.Join(os.TempDir(), "cellar-web-"+strings.ReplaceAll(b.t.Name(), "/", "_")+".png")
	if os.WriteFile(p, png, 0o644) == nil {
		b.t.Logf("screenshot of the failure: %s", p)
	}
}

func (b *browser) navigate(path string) {
	b.t.Helper()
	b.do("navigate "+path, chromedp.Navigate(b.e.BaseURL+path))
}

// go changes the hash route, as a click on a link would.
func (b *browser) goTo(hash string) {
	b.t.Helper()
	b.do("go to "+hash, chromedp.Evaluate[chromedp.Void](`window.location.hash = `+strconv.Quote(hash)))
}

func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *browser) waitVisibleFor(sel string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		b.fatal("wait for %s: %v", sel, err)
	}
}

// clearInput empties a field and fires input, as deleting its text would.
func (b *browser) clearInput(sel string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { const i = document.querySelector(%q); i.value = ''; i.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, sel))
}

func (b *browser) waitGone(sel string) {
	b.t.Helper()
	b.do("wait until gone "+sel, chromedp.WaitNotPresent(chromedp.CSS(sel)))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto clears a field and types into it with key events.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.waitVisible(sel)
	b.clearInput(sel)
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// selectValue picks an option and fires change, as a user would.
func (b *browser) selectValue(sel, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`, sel, value))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fatal("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browser) eval(js string) any {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
	if err != nil {
		b.fatal("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) evalBool(js string) bool {
	b.t.Helper()
	v, _ := b.eval(js).(bool)
	return v
}

func (b *browser) evalString(js string) string {
	b.t.Helper()
	v, _ := b.eval(js).(string)
	return v
}

// waitJS polls a JavaScript condition from Go (the page's CSP forbids the
// eval that chromedp's in-page polling uses).
func (b *browser) waitJS(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fatal("timed out waiting for %s (%s): %v", what, cond, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) signIn(key string) {
	b.t.Helper()
	b.waitVisible("#signin-key")
	b.typeInto("#signin-key", key)
	b.click("#signin-submit")
	b.waitVisible("#signout")
	b.waitJS("the first page", `document.getElementById('page-title') && document.getElementById('page-title').textContent !== 'Sign in'`, 30*time.Second)
}

// screenshot saves a full-page PNG under docs/screenshots when
// CELLAR_SCREENSHOTS=1, at the given viewport width.
func (b *browser) screenshot(name string, width int64) {
	b.t.Helper()
	if os.Getenv("CELLAR_SCREENSHOTS") != "1" {
		return
	}
	// Toasts come and go; they only hide what is under them in a picture.
	b.eval(`(() => { const t = document.getElementById('toast'); if (t) t.hidden = true; return true })()`)
	b.do("resize", chromedp.EmulateViewport(width, 900, chromedp.EmulatePortrait), chromedp.Sleep(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("saved docs/screenshots/%s", name)
	if width != 1280 {
		b.do("resize back", chromedp.EmulateViewport(1280, 900, chromedp.EmulatePortrait))
	}
}

// ---- API and database helpers

type credentials struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Database string `json:"database"`
	Username string `json:"username"`
}

func dbPath(engine, name, suffix string) string {
	return "/v1/databases/" + engine + "/" + name + suffix
}

func getCredentials(t *testing.T, c *testenv.Client, engine, name string) credentials {
	t.Helper()
	var cr credentials
	c.Expect(t, http.StatusOK, "GET", dbPath(engine, name, "/credentials"), nil).Decode(t, &cr)
	return cr
}

func listNames(t *testing.T, c *testenv.Client, engine string) []string {
	t.Helper()
	var l struct {
		Databases []struct {
			DBName string `json:"db_name"`
		} `json:"databases"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/databases/"+engine, nil).Decode(t, &l)
	var out []string
	for _, d := range l.Databases {
		out = append(out, d.DBName)
	}
	return out
}

func createViaAPI(t *testing.T, c *testenv.Client, engine, name string) (dbName, password string) {
	t.Helper()
	var out struct {
		DBName   string `json:"db_name"`
		Password string `json:"password"`
	}
	c.Expect(t, http.StatusCreated, "POST", "/v1/databases", map[string]any{"db_type": engine, "requested_name": name}).Decode(t, &out)
	return out.DBName, out.Password
}

// sqlConn is an open session on a managed database.
type sqlConn struct {
	pg *pgx.Conn
	my *sql.DB
}

func connect(engine string, cr credentials, password string) (*sqlConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	addr := net.JoinHostPort(cr.Host, strconv.Itoa(cr.Port))
	if engine == "postgresql" {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(cr.Username, password), Host: addr, Path: "/" + cr.Database, RawQuery: "sslmode=disable"}
		c, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return nil, err
		}
		return &sqlConn{pg: c}, nil
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = cr.Username, password, "tcp", addr, cr.Database
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlConn{my: db}, nil
}

func mustConnect(t *testing.T, engine string, cr credentials, password string) *sqlConn {
	t.Helper()
	c, err := connect(engine, cr, password)
	if err != nil {
		t.Fatalf("connect to %s with the password from the page: %v", cr.Database, err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *sqlConn) exec(t *testing.T, q string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if c.pg != nil {
		_, err = c.pg.Exec(ctx, q)
	} else {
		_, err = c.my.ExecContext(ctx, q)
	}
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (c *sqlConn) strings(t *testing.T, q string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	if c.pg != nil {
		rows, err := c.pg.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rows, err := c.my.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *sqlConn) close() {
	if c.pg != nil {
		c.pg.Close(context.Background())
	}
	if c.my != nil {
		c.my.Close()
	}
}
