package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/cellar/cellar/internal/web"
)

// These tests need no browser and no servers: they run with -short too.

func get(t *testing.T, h http.Handler, p string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestHandler_IndexUnderStrictCSP(t *testing.T) {
	h := web.Handler()
	for _, p := range []string{"/", "/anything/else"} {
		res, body := get(t, h, p)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, res.StatusCode)
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("CSP allows something unsafe: %q", csp)
		}
		if !strings.Contains(body, `<script type="module" src="/assets/app.js"></script>`) {
			t.Errorf("GET %s: no app module in %s", p, body)
		}
		if regexp.MustCompile(`<script(?:\s+type="module")?\s*>`).MatchString(body) || strings.Contains(body, " style=") || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
			t.Errorf("index.html has inline script, style or handlers")
		}
	}
}

// staticFiles lists the dashboard's files as committed.
func staticFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := os.DirFS("static")
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAssets_ImportsResolveAndServeAsJavaScript follows every module import
// from app.js and fetches it through the handler.
func TestAssets_ImportsResolveAndServeAsJavaScript(t *testing.T) {
	h := web.Handler()
	importRe := regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'`)
	seen := map[string]bool{}
	queue := []string{"/assets/app.js"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res, body := get(t, h, p)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		for _, m := range importRe.FindAllStringSubmatch(body, -1) {
			queue = append(queue, path.Join(path.Dir(p), m[1]))
		}
	}
	if len(seen) < 8 {
		t.Errorf("only %d modules reachable from app.js: %v", len(seen), seen)
	}
	res, _ := get(t, h, "/assets/app.css")
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/css") {
		t.Errorf("app.css: %d %q", res.StatusCode, ct)
	}
}

// TestAssets_KeepTheKeyInMemory is a lint over the committed sources: the
// key must never reach storage, cookies or logs, and nothing may need eval
// or inline styles, which the CSP blocks.
func TestAssets_KeepTheKeyInMemory(t *testing.T) {
	forbidden := map[string]*regexp.Regexp{
		"Web Storage":        regexp.MustCompile(`\b(localStorage|sessionStorage|indexedDB)\b`),
		"cookies":            regexp.MustCompile(`document\.cookie`),
		"console output":     regexp.MustCompile(`\bconsole\.(log|info|debug|warn|error)\b`),
		"eval":               regexp.MustCompile(`\beval\(|new Function\(|setTimeout\(\s*['"]`),
		"HTML strings":       regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write`),
		"inline style attrs": regexp.MustCompile(`setAttribute\(\s*['"]style['"]|['"]style['"]\s*:`),
		"key in the URL":     regexp.MustCompile(`searchParams\.set\(\s*'(key|api_key)'|[?&]key=`),
		"external resources": regexp.MustCompile(`https?://(?:[a-z0-9-]+\.)+[a-z]{2,}/`),
	}
	for p, src := range staticFiles(t) {
		if !strings.HasSuffix(p, ".js") && !strings.HasSuffix(p, ".css") && !strings.HasSuffix(p, ".html") {
			continue
		}
		for what, re := range forbidden {
			if what == "external resources" && strings.HasSuffix(p, ".js") {
				// The SVG namespace is a name, not a resource.
				src = strings.ReplaceAll(src, "http://www.w3.org/2000/svg", "")
			}
			if loc := re.FindStringIndex(src); loc != nil {
				line := strings.Count(src[:loc[0]], "\n") + 1
				t.Errorf("%s:%d: %s: %q", p, line, what, src[loc[0]:loc[1]])
			}
		}
	}
}
