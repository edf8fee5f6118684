package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cellar/cellar/internal/cellar"
)

// TestBrowser_CreateConnectRotateDelete creates a PostgreSQL and a MariaDB
// database through the dashboard, connects with the passwords it shows,
// rotates a password and deletes a database through the type-the-name
// dialog.
func TestBrowser_CreateConnectRotateDelete(t *testing.T) {
	b := newBrowser(t)
	c := b.e.NewCustomer(t)

	b.navigate("/")
	b.waitVisible("#signin-key")
	b.screenshot("signin.png", 1280)
	b.signIn(c.Key)
	b.waitVisible("#create-form")
	if got := b.text("#who-customer"); got != c.CustomerID {
		t.Errorf("header customer = %q, want %q", got, c.CustomerID)
	}
	if got := b.text("#who-prefix"); got == "" || !strings.HasPrefix(c.Key, got) {
		t.Errorf("header key prefix = %q, not a prefix of the key", got)
	}
	b.waitVisible("#db-table-empty")

	passwords := map[string]string{}
	names := map[string]string{}
	for _, engine := range []string{"postgresql", "mariadb"} {
		b.selectValue("#create-engine", engine)
		b.typeInto("#create-name", "shop")
		short := map[string]string{"postgresql": "pg", "mariadb": "my"}[engine]
		want := "cust_" + c.CustomerID + "_" + short + "_shop"
		if got := b.text("#create-preview"); got != want {
			t.Errorf("name preview = %q, want %q", got, want)
		}
		b.click("#create-submit")
		b.waitVisible("#secret-value")
		pw := b.text("#secret-value")
		name := b.text("#secret-db")
		if name != want {
			t.Fatalf("created %q, want %q", name, want)
		}
		if w := b.text("#secret-warning"); !strings.Contains(w, "This password will not be shown again") {
			t.Errorf("secret box warning = %q", w)
		}
		b.click("#secret-copy")
		b.waitJS("copy feedback", `/Copied|Ctrl\+C/.test(document.getElementById('status').textContent)`, 5*time.Second)
		passwords[engine], names[engine] = pw, name

		// The password from the page opens a session with the real client.
		cr := getCredentials(t, c, engine, name)
		conn := mustConnect(t, engine, cr, pw)
		conn.exec(t, "CREATE TABLE items (label varchar(40))")
		conn.exec(t, "INSERT INTO items VALUES ('from the browser test')")
		if got := conn.strings(t, "SELECT label FROM items"); !slices.Equal(got, []string{"from the browser test"}) {
			t.Fatalf("%s: rows %v", engine, got)
		}
		conn.close()

		b.click("#secret-dismiss")
		b.waitGone("#secret-box")
		if strings.Contains(b.evalString(`document.body.innerHTML`), pw) {
			t.Errorf("%s: the password stays in the page after dismissing it", engine)
		}
		b.waitVisible(`#db-table tr[data-db="` + name + `"]`)
	}

	// Both engines in one list, with sizes from …/info.
	for _, name := range names {
		b.waitJS("size of "+name, `(() => { const td = document.querySelector('#db-table tr[data-db="`+name+`"] td[data-col="size"]'); return td && /B$/.test(td.textContent.trim()) })()`, 30*time.Second)
	}
	// Search filters, sorting reorders.
	b.typeInto("#db-search", "_my_")
	b.waitGone(`#db-table tr[data-db="` + names["postgresql"] + `"]`)
	b.waitVisible(`#db-table tr[data-db="` + names["mariadb"] + `"]`)
	b.clearInput("#db-search")
	b.waitVisible(`#db-table tr[data-db="` + names["postgresql"] + `"]`)
	b.click(`#db-table button[data-sort="db_name"]`)
	first := b.evalString(`document.querySelector('#db-table tbody tr').dataset.db`)
	if first != names["mariadb"] { // cust_x_my_… sorts before cust_x_pg_…
		t.Errorf("sorted by name ascending, first row %q", first)
	}
	b.screenshot("databases.png", 1280)
	b.screenshot("databases-390.png", 390)

	// The database page: commands without the password, then rotation.
	pgName := names["postgresql"]
	b.click(`#db-table tr[data-db="` + pgName + `"] a[data-testid="db-link"]`)
	b.waitVisible("#conn-cli")
	cr := getCredentials(t, c, "postgresql", pgName)
	wantCLI := `psql "postgresql://` + cr.Username + "@" + cr.Host + ":" + strconv.Itoa(cr.Port) + "/" + cr.Database + `"`
	if got := b.text("#conn-cli"); got != wantCLI {
		t.Errorf("psql command = %q, want %q", got, wantCLI)
	}
	if strings.Contains(b.evalString(`document.body.innerText`), passwords["postgresql"]) {
		t.Error("the database page shows the password")
	}
	b.click("#rotate")
	b.waitVisible("#rotate-dialog")
	b.click("#confirm-ok")
	b.waitGone("#rotate-dialog")
	b.waitVisible("#secret-value")
	newPW := b.text("#secret-value")
	if newPW == "" || newPW == passwords["postgresql"] {
		t.Fatalf("rotated password %q", newPW)
	}
	if w := b.text("#secret-warning"); !strings.Contains(w, "This password will not be shown again") {
		t.Errorf("rotation box warning = %q", w)
	}
	if old, err := connect("postgresql", cr, passwords["postgresql"]); err == nil {
		old.close()
		t.Error("the old password still works after rotation")
	}
	mustConnect(t, "postgresql", cr, newPW).close()

	// Rotate the MariaDB password too: its accounts work differently.
	myName := names["mariadb"]
	b.goTo("#/databases/mariadb/" + myName)
	b.waitVisible("#conn-cli")
	mcr := getCredentials(t, c, "mariadb", myName)
	if got, want := b.text("#conn-cli"), "mariadb -h "+mcr.Host+" -P "+strconv.Itoa(mcr.Port)+" -u "+mcr.Username+" -p "+mcr.Database; got != want {
		t.Errorf("mariadb command = %q, want %q", got, want)
	}
	b.click("#rotate")
	b.waitVisible("#rotate-dialog")
	b.click("#confirm-ok")
	b.waitVisible("#secret-value")
	myPW := b.text("#secret-value")
	if old, err := connect("mariadb", mcr, passwords["mariadb"]); err == nil {
		old.close()
		t.Error("the old MariaDB password still works after rotation")
	}
	mustConnect(t, "mariadb", mcr, myPW).close()

	// The PostgreSQL page with metrics for the screenshot.
	b.goTo("#/databases/postgresql/" + pgName)
	b.waitVisible("#conn-cli")
	b.waitVisible("#timeline")
	if os.Getenv("CELLAR_SCREENSHOTS") == "1" {
		// Something in every section for the picture.
		b.typeInto("#fw-ip", "198.51.100.0/24")
		b.typeInto("#fw-description", "office VPN")
		b.click("#fw-submit")
		b.waitVisible(`#fw-table tr[data-ip="198.51.100.0/24"]`)
		b.typeInto("#snap-description", "before the schema change")
		b.click("#snap-submit")
		b.waitVisibleFor(`#snap-table tr[data-status="completed"]`, 90*time.Second)
		waitForSamples(b)
	}
	b.screenshot("database.png", 1280)
	b.screenshot("database-390.png", 390)

	// Delete the MariaDB database from the list, typing its name.
	b.goTo("#/databases")
	b.waitVisible(`#db-table tr[data-db="` + myName + `"]`)
	b.click(`#db-table button[data-action="delete"][data-db="` + myName + `"]`)
	b.waitVisible("#delete-dialog")
	if !b.evalBool(`document.getElementById('confirm-ok').disabled`) {
		t.Error("delete is enabled before the name is typed")
	}
	b.typeInto("#confirm-input", "wrong_name")
	if !b.evalBool(`document.getElementById('confirm-ok').disabled`) {
		t.Error("delete is enabled with a wrong name")
	}
	b.typeInto("#confirm-input", myName)
	b.waitJS("delete enabled", `!document.getElementById('confirm-ok').disabled`, 5*time.Second)
	b.click("#confirm-ok")
	b.waitGone("#delete-dialog")
	b.waitGone(`#db-table tr[data-db="` + myName + `"]`)
	if slices.Contains(listNames(t, c, "mariadb"), myName) {
		t.Error("the deleted database is still listed by the API")
	}
	if x := b.e.Inspect(t, "mariadb", c.CustomerID, myName); x.Database || x.User || x.Secret {
		t.Errorf("deleted database left behind on the server: %+v", x)
	}
	b.waitVisible(`#db-table tr[data-db="` + pgName + `"]`)
}

// waitForSamples refreshes the metrics until the charts have a few points.
func waitForSamples(b *browser) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b.click("#metrics-refresh")
		time.Sleep(500 * time.Millisecond)
		if b.evalBool(`(() => { const f = document.getElementById('chart-connections'); return !!f && Number(f.dataset.points) >= 4 })()`) {
			return
		}
		time.Sleep(1500 * time.Millisecond)
	}
}

// TestBrowser_FirewallRule adds a rule through the form, sees it listed,
// removes it and checks with the API that it is gone.
func TestBrowser_FirewallRule(t *testing.T) {
	b := newBrowser(t)
	b.allow(http.StatusUnprocessableEntity)
	c := b.e.NewCustomer(t)
	name, _ := createViaAPI(t, c, "postgresql", "fw")

	b.navigate("/#/databases/postgresql/" + name)
	b.signIn(c.Key)
	b.waitVisible("#fw-form")
	b.waitVisible("#fw-table-empty")

	// A block with host bits: the API's message at the field.
	b.typeInto("#fw-ip", "10.0.0.1/24")
	b.click("#fw-submit")
	b.waitVisible("#fw-ip-error")
	if msg := b.text("#fw-ip-error"); msg == "" {
		t.Error("no error next to the IP field")
	}
	if b.evalString(`document.getElementById('fw-ip').getAttribute('aria-invalid')`) != "true" {
		t.Error("the IP field is not marked invalid")
	}

	b.typeInto("#fw-ip", "192.0.2.10")
	b.typeInto("#fw-description", "office")
	b.click("#fw-submit")
	row := `#fw-table tr[data-ip="192.0.2.10/32"]`
	b.waitVisible(row)
	if b.evalBool(`!document.getElementById('fw-ip-error').hidden`) {
		t.Error("the old field error is still shown after a good submit")
	}
	var rules struct {
		Rules []struct {
			RuleID    string `json:"rule_id"`
			IPAddress string `json:"ip_address"`
		} `json:"rules"`
		Total int `json:"total"`
	}
	c.Expect(t, http.StatusOK, "GET", dbPath("postgresql", name, "/firewall"), nil).Decode(t, &rules)
	if rules.Total != 1 || rules.Rules[0].IPAddress != "192.0.2.10/32" {
		t.Fatalf("rules after adding: %+v", rules)
	}
	if got := b.text(row + ` td[data-col="description"]`); got != "office" {
		t.Errorf("description cell = %q", got)
	}

	b.click(row + ` button[data-action="delete-rule"]`)
	b.waitVisible("#confirm-dialog")
	b.click("#confirm-ok")
	b.waitGone(row)
	b.waitVisible("#fw-table-empty")
	c.Expect(t, http.StatusOK, "GET", dbPath("postgresql", name, "/firewall"), nil).Decode(t, &rules)
	if rules.Total != 0 {
		t.Fatalf("rules after removing: %+v", rules)
	}
}

// TestBrowser_SnapshotRestoreInPlace takes a snapshot, waits for it in the
// page, changes the data and restores the snapshot in place.
func TestBrowser_SnapshotRestoreInPlace(t *testing.T) {
	b := newBrowser(t)
	c := b.e.NewCustomer(t)
	name, pw := createViaAPI(t, c, "postgresql", "snap")
	cr := getCredentials(t, c, "postgresql", name)
	conn := mustConnect(t, "postgresql", cr, pw)
	conn.exec(t, "CREATE TABLE notes (body text)")
	conn.exec(t, "INSERT INTO notes VALUES ('before the snapshot')")
	conn.close()

	b.navigate("/")
	b.signIn(c.Key)
	b.goTo("#/databases/postgresql/" + name)
	b.waitVisible("#snap-form")
	b.waitVisible("#snap-table-empty")
	b.typeInto("#snap-description", "before the change")
	b.click("#snap-submit")
	// Progress shows while it runs; then it completes.
	b.waitVisible(`#snap-table tbody tr`)
	b.waitVisibleFor(`#snap-table tr[data-status="completed"]`, 90*time.Second)
	if got := b.text(`#snap-table tr[data-status="completed"] td[data-col="description"]`); got != "before the change" {
		t.Errorf("snapshot description = %q", got)
	}

	conn = mustConnect(t, "postgresql", cr, pw)
	conn.exec(t, "INSERT INTO notes VALUES ('after the snapshot')")
	if got := conn.strings(t, "SELECT body FROM notes ORDER BY body"); len(got) != 2 {
		t.Fatalf("rows before restore: %v", got)
	}
	conn.close()

	b.click(`#snap-table tr[data-status="completed"] button[data-action="restore"]`)
	b.waitVisible("#restore-dialog")
	if !b.evalBool(`document.getElementById('restore-inplace').checked`) {
		t.Error("restore does not default to in place")
	}
	b.click("#confirm-ok")
	b.waitVisibleFor(`#restore-result .notice[data-status="completed"]`, 90*time.Second)
	b.waitGone("#restore-dialog")

	conn = mustConnect(t, "postgresql", cr, pw)
	if got := conn.strings(t, "SELECT body FROM notes ORDER BY body"); !slices.Equal(got, []string{"before the snapshot"}) {
		t.Fatalf("rows after the in-place restore: %v, want only the snapshot's", got)
	}
	conn.close()

	// Restore into a new database: its password is shown once and works.
	b.click(`#snap-table tr[data-status="completed"] button[data-action="restore"]`)
	b.waitVisible("#restore-dialog")
	b.click("#restore-new")
	b.typeInto("#restore-target", "snapcopy")
	b.click("#confirm-ok")
	b.waitVisibleFor("#restore-secret #secret-value", 90*time.Second)
	copyPW := b.text("#secret-value")
	copyName := "cust_" + c.CustomerID + "_pg_snapcopy"
	if h := b.text("#secret-heading"); !strings.Contains(h, copyName) {
		t.Errorf("restore secret heading %q, want %s", h, copyName)
	}
	// The restore runs in the background; the page polls it to the end.
	b.waitVisibleFor(`#restore-result .notice[data-status="completed"]`, 90*time.Second)
	copyConn := mustConnect(t, "postgresql", getCredentials(t, c, "postgresql", copyName), copyPW)
	if got := copyConn.strings(t, "SELECT body FROM notes"); !slices.Equal(got, []string{"before the snapshot"}) {
		t.Errorf("rows in the restored copy: %v", got)
	}

	// The history shows the restore.
	b.goTo("#/databases")
	b.goTo("#/databases/postgresql/" + name)
	b.waitVisible(`#timeline li[data-kind="restored"]`)
	b.waitVisible(`#timeline li[data-kind="snapshot_created"]`)
}

// TestBrowser_CustomersSeeOnlyTheirOwn signs in as one customer, then as
// another in the same tab: the second sees none of the first's databases,
// and signing out leaves no key and no data behind.
func TestBrowser_CustomersSeeOnlyTheirOwn(t *testing.T) {
	b := newBrowser(t)
	b.allow(http.StatusNotFound)
	first := b.e.NewCustomer(t)
	second := b.e.NewCustomer(t)
	firstDB, _ := createViaAPI(t, first, "postgresql", "private")

	b.navigate("/")
	b.signIn(first.Key)
	b.waitVisible(`#db-table tr[data-db="` + firstDB + `"]`)
	b.click("#signout")
	b.waitVisible("#signin-key")

	b.signIn(second.Key)
	b.waitVisible("#db-table-empty")
	if strings.Contains(b.evalString(`document.body.innerText`), firstDB) {
		t.Error("the second customer sees the first customer's database")
	}
	if got := b.text("#who-customer"); got != second.CustomerID {
		t.Errorf("header customer = %q, want %q", got, second.CustomerID)
	}
	// Even by address, the first customer's database is not there.
	b.goTo("#/databases/postgresql/" + firstDB)
	b.waitVisible("#db-missing")
	b.goTo("#/account")
	b.waitVisible("#history-empty")

	// Sign out: the key input is empty, nothing of the session is visible,
	// and the key is nowhere in the URL, storage or cookies.
	b.click("#signout")
	b.waitVisible("#signin-key")
	if v := b.evalString(`document.getElementById('signin-key').value`); v != "" {
		t.Errorf("key input after sign-out = %q", v)
	}
	text := b.evalString(`document.body.innerText`)
	for _, s := range []string{second.CustomerID, first.CustomerID, firstDB, "Databases"} {
		if strings.Contains(text, s) {
			t.Errorf("after sign-out the page still shows %q", s)
		}
	}
	if !b.evalBool(`document.getElementById('topbar').hidden`) {
		t.Error("the header is still shown after sign-out")
	}
	state := b.evalString(`JSON.stringify({href: location.href, local: Object.assign({}, localStorage), session: Object.assign({}, sessionStorage), cookie: document.cookie, html: document.documentElement.outerHTML})`)
	for _, key := range []string{first.Key, second.Key} {
		if strings.Contains(state, key) {
			t.Error("an API key is left in the URL, storage, cookies or page after sign-out")
		}
	}
	var st struct {
		Href    string            `json:"href"`
		Local   map[string]string `json:"local"`
		Session map[string]string `json:"session"`
		Cookie  string            `json:"cookie"`
	}
	if err := json.Unmarshal([]byte(state), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Local) != 0 || len(st.Session) != 0 || st.Cookie != "" || strings.Contains(st.Href, "#/") {
		t.Errorf("state after sign-out: %+v", st)
	}

	// Reloading ends a session too.
	b.signIn(second.Key)
	b.waitVisible("#db-table-empty")
	b.do("reload", chromedp.Reload())
	b.waitVisible("#signin-key")
	if b.evalBool(`!document.getElementById('topbar').hidden`) {
		t.Error("still signed in after reloading")
	}
}

// TestBrowser_ValidationAndPermissions: a bad name shows the API's message
// at the name field; a wrong key shows the API's problem at the key field;
// a read-only key gets no create or delete controls and no admin section.
func TestBrowser_ValidationAndPermissions(t *testing.T) {
	b := newBrowser(t)
	b.allow(http.StatusUnauthorized, http.StatusUnprocessableEntity)
	c := b.e.NewCustomer(t)

	b.navigate("/")
	b.typeInto("#signin-key", "ck_nosuchkey_0000000000000000000000000000000000000000")
	b.click("#signin-submit")
	b.waitVisible("#signin-error .problem")
	if b.evalString(`document.getElementById('signin-key').getAttribute('aria-invalid')`) != "true" {
		t.Error("a wrong key does not mark the key field")
	}
	if b.evalBool(`!document.getElementById('topbar').hidden`) {
		t.Error("a wrong key signed in")
	}

	b.signIn(c.Key)
	b.waitVisible("#create-form")
	bad := "bad-name!"
	b.typeInto("#create-name", bad)
	b.click("#create-submit")
	b.waitVisible("#create-name-error")
	var problem struct {
		Errors []struct{ Field, Message string } `json:"errors"`
	}
	r := c.Do(t, "POST", "/v1/databases", map[string]any{"db_type": "postgresql", "requested_name": bad})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("API status for a bad name: %d", r.Status)
	}
	r.Decode(t, &problem)
	var want string
	for _, fe := range problem.Errors {
		if fe.Field == "requested_name" {
			want = fe.Message
		}
	}
	if got := b.text("#create-name-error"); want == "" || !strings.Contains(got, want) {
		t.Errorf("message at the name field = %q, want the API's %q", got, want)
	}
	if b.evalString(`document.activeElement && document.activeElement.id`) != "create-name" {
		t.Error("focus is not on the invalid field")
	}
	if b.evalBool(`!!document.getElementById('secret-box')`) {
		t.Error("a failed create showed a secret box")
	}
	if names := listNames(t, c, "postgresql"); len(names) != 0 {
		t.Errorf("a refused create made databases: %v", names)
	}
	b.click("#signout")

	// A read-only key: no create form, no delete buttons, no admin.
	ro := b.e.NewKey(t, c.CustomerID, false, cellar.PermDatabaseRead)
	name, _ := createViaAPI(t, c, "postgresql", "readonly")
	b.signIn(ro.Key)
	b.waitVisible(`#db-table tr[data-db="` + name + `"]`)
	for sel, what := range map[string]string{
		"#create-form":                         "create form",
		`#db-table button[data-action=delete]`: "delete button",
		`#nav-admin-item:not([hidden])`:        "admin link",
	} {
		if b.evalBool(`!!document.querySelector(` + strconv.Quote(sel) + `)`) {
			t.Errorf("a read-only key is offered the %s", what)
		}
	}
	b.goTo("#/databases/postgresql/" + name)
	b.waitVisible("#conn-cli")
	b.waitVisible("#fw-table-empty")
	for _, sel := range []string{"#rotate", "#delete-db", "#restart", "#fw-form", "#settings-form", "#bp-form"} {
		if b.evalBool(`!!document.querySelector(` + strconv.Quote(sel) + `)`) {
			t.Errorf("a read-only key is offered %s", sel)
		}
	}
	b.goTo("#/admin")
	b.waitVisible("#db-table") // redirected home

	// Revoked during the session: the next request signs the tab out.
	var keys struct {
		Keys []struct {
			ID     string `json:"id"`
			Prefix string `json:"prefix"`
		} `json:"keys"`
	}
	b.e.Admin().Expect(t, http.StatusOK, "GET", "/v1/admin/keys", nil).Decode(t, &keys)
	for _, k := range keys.Keys {
		if strings.HasPrefix(ro.Key, k.Prefix+"_") {
			b.e.Admin().Expect(t, http.StatusOK, "DELETE", "/v1/admin/keys/"+k.ID, nil)
		}
	}
	b.click("#db-refresh")
	b.waitVisible("#signin-error .problem")
	if b.evalBool(`!document.getElementById('topbar').hidden`) {
		t.Error("still signed in with a revoked key")
	}
}

// TestBrowser_AccountAndAdmin shows a customer's quota and history, then an
// admin creates a key (shown once), revokes it and overrides a quota.
func TestBrowser_AccountAndAdmin(t *testing.T) {
	b := newBrowser(t)
	c := b.e.NewCustomer(t)
	keep, _ := createViaAPI(t, c, "postgresql", "orders")
	createViaAPI(t, c, "mariadb", "analytics")
	gone, _ := createViaAPI(t, c, "mariadb", "scratch")
	c.Expect(t, http.StatusOK, "DELETE", dbPath("mariadb", gone, ""), nil)

	b.navigate("/")
	b.signIn(c.Key)
	b.goTo("#/account")
	b.waitVisible("#quota-databases")
	if got := b.text("#quota-databases .bar-text"); !strings.HasPrefix(got, "2 of ") {
		t.Errorf("databases bar = %q, want 2 used", got)
	}
	b.waitVisible("#cost-total")
	b.waitVisible(`#history-list details[data-db="` + gone + `"]`)
	b.waitVisible(`#history-list details[data-db="` + keep + `"]`)
	if !strings.Contains(b.text(`#history-list details[data-db="`+gone+`"] summary`), "deleted") {
		t.Error("the deleted database is not marked deleted in the history")
	}
	b.click(`#history-list details[data-db="` + gone + `"] summary`)
	b.waitVisible(`#history-list details[data-db="` + gone + `"] li[data-kind="deleted"]`)
	if b.evalBool(`!!document.getElementById('usage')`) {
		t.Error("a customer key is offered usage events")
	}
	b.screenshot("account.png", 1280)
	b.click("#signout")

	// The admin.
	b.signIn(b.e.AdminKey)
	b.waitVisible("#nav-admin")
	b.click("#nav-admin")
	b.waitVisible("#key-form")
	b.waitVisible("#keys-table")
	customer := "webadm" + strings.ToLower(cellar.RandomToken(6))
	b.typeInto("#key-name", "browser test key")
	b.typeInto("#key-customer", customer)
	b.click("#key-create-submit")
	b.waitVisible("#secret-value")
	key := b.text("#secret-value")
	if w := b.text("#secret-warning"); !strings.Contains(w, "will not be shown again") {
		t.Errorf("key box warning = %q", w)
	}
	var me struct {
		KeyPrefix  string   `json:"key_prefix"`
		CustomerID string   `json:"customer_id"`
		Perms      []string `json:"permissions"`
	}
	b.e.Client(key, customer).Expect(t, http.StatusOK, "GET", "/v1/me", nil).Decode(t, &me)
	if me.CustomerID != customer || slices.Contains(me.Perms, "admin") || !slices.Contains(me.Perms, "database:create") {
		t.Errorf("the key made in the dashboard: %+v", me)
	}
	row := `#keys-table tr[data-prefix="` + me.KeyPrefix + `"]`
	b.waitVisible(row)
	b.typeInto("#keys-filter", me.KeyPrefix)
	b.waitJS("filtered keys", `document.querySelectorAll('#keys-table tbody tr').length === 1`, 10*time.Second)
	b.clearInput("#keys-filter")
	b.waitJS("all keys", `document.querySelectorAll('#keys-table tbody tr').length > 1`, 10*time.Second)
	b.screenshot("admin-keys.png", 1280)
	b.click(`#secret-dismiss`)

	b.click(row + ` button[data-action="revoke"]`)
	b.waitVisible("#confirm-dialog")
	b.click("#confirm-ok")
	b.waitVisible(row + `[data-revoked="true"]`)
	b.e.Client(key, customer).Expect(t, http.StatusUnauthorized, "GET", "/v1/me", nil)

	// A quota override for the customer.
	b.typeInto("#quota-customer", c.CustomerID)
	b.typeInto("#quota-max-databases", "7")
	b.click("#quota-submit")
	b.waitVisible("#quota-result #quota-databases")
	if got := b.text("#quota-result #quota-databases .bar-text"); got != "2 of 7" {
		t.Errorf("quota after override = %q, want 2 of 7", got)
	}
	var q struct {
		Limit int `json:"limit"`
	}
	c.Expect(t, http.StatusOK, "GET", "/v1/quota", nil).Decode(t, &q)
	if q.Limit != 7 {
		t.Errorf("quota limit via the API = %d, want 7", q.Limit)
	}

	// Internal keys see usage events on the account page.
	b.goTo("#/account")
	b.waitVisible("#usage-table")

	// and may act for another customer.
	b.goTo("#/databases")
	b.waitVisible("#customer-form")
	b.typeInto("#customer-input", c.CustomerID)
	b.click("#customer-form button[type=submit]")
	b.waitVisible(`#db-table tr[data-db="` + keep + `"]`)
	if got := b.text("#who-acting-customer"); got != c.CustomerID {
		t.Errorf("header acting for %q, want %s", got, c.CustomerID)
	}
	b.click(`#db-table tr[data-db="` + keep + `"] a[data-testid="db-link"]`)
	b.waitVisible("#conn-cli")
	b.waitVisible("#timeline")
}

// TestBrowser_WatchdogSeesCSPViolations checks the checker: a blocked
// inline style and an uncaught exception are caught, so that the other
// tests' silence means something.
func TestBrowser_WatchdogSeesCSPViolations(t *testing.T) {
	b := newBrowser(t)
	b.navigate("/")
	b.waitVisible("#signin-key")
	// Served with the CSP header.
	if got := b.evalString(`document.querySelector('script[type=module]').getAttribute('src')`); got != "/assets/app.js" {
		t.Fatalf("script src %q", got)
	}
	b.eval(`(() => { const d = document.createElement('div'); d.setAttribute('style', 'color: red'); document.body.append(d); setTimeout(() => { throw new Error('watchdog test') }, 0); return true })()`)
	deadline := time.Now().Add(5 * time.Second)
	var csp, exc bool
	for time.Now().Before(deadline) && !(csp && exc) {
		time.Sleep(100 * time.Millisecond)
		for _, m := range b.take() {
			csp = csp || strings.Contains(m, "style-src") || strings.Contains(m, "Content Security Policy")
			exc = exc || strings.Contains(m, "watchdog test")
		}
	}
	time.Sleep(300 * time.Millisecond)
	b.take() // the same violation may be reported twice (log and event)
	if !csp || !exc {
		t.Errorf("watchdog missed: CSP violation %v, exception %v", csp, exc)
	}
}
