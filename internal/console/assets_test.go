package console

import (
	"context"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hubsend/hubsend/internal/configapi"
)

// languages are the console's dictionaries; both must say everything.
var languages = []string{"en", "it"}

func readAsset(t *testing.T, name string) string {
	t.Helper()
	data, err := fs.ReadFile(Assets(), name)
	if err != nil {
		t.Fatalf("asset %s: %v", name, err)
	}
	return string(data)
}

// assetsWith lists the asset files whose names end in one of exts.
func assetsWith(t *testing.T, exts ...string) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(Assets(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, path.Ext(name)) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no %v assets", exts)
	}
	return names
}

func exists(name string) bool {
	_, err := fs.Stat(Assets(), name)
	return err == nil
}

func TestIndexAtRoot(t *testing.T) {
	if !strings.Contains(readAsset(t, "index.html"), "<!doctype html>") {
		t.Error("index.html is not an HTML document")
	}
}

var (
	htmlReference = regexp.MustCompile(`\b(?:src|href)="([^"#][^"]*)"`)
	jsImport      = regexp.MustCompile(`(?m)(?:^import\b[^'"]*|\bimport\()\s*['"]([^'"]+)['"]`)
	consolePath   = regexp.MustCompile(`['"` + "`" + `](/console/[^'"` + "`" + `$]+)['"` + "`" + `]`)
)

// TestReferencedAssetsExist follows every file index.html and the scripts
// name, the way the browser resolves them, so a typo is a test failure and
// not a blank page.
func TestReferencedAssetsExist(t *testing.T) {
	check := func(from, ref string) {
		t.Helper()
		var name string
		switch {
		case strings.HasPrefix(ref, "/console/"):
			name = strings.TrimPrefix(ref, "/console/")
		case strings.HasPrefix(ref, "./"), strings.HasPrefix(ref, "../"):
			name = path.Join(path.Dir(from), ref)
		default:
			t.Errorf("%s references %q: use /console/... or a relative module path", from, ref)
			return
		}
		// The config API answers config.json itself: the deployment's
		// sign-in settings, not a file.
		if !exists(name) && name != "config.json" {
			t.Errorf("%s references %q, but %s is not in Assets()", from, ref, name)
		}
	}
	html := readAsset(t, "index.html")
	refs := htmlReference.FindAllStringSubmatch(html, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references only %d files", len(refs))
	}
	for _, m := range refs {
		check("index.html", m[1])
	}
	for _, name := range assetsWith(t, ".js") {
		src := readAsset(t, name)
		for _, m := range jsImport.FindAllStringSubmatch(src, -1) {
			check(name, m[1])
		}
		for _, m := range consolePath.FindAllStringSubmatch(src, -1) {
			check(name, m[1])
		}
	}
	for _, lang := range languages {
		if !exists("i18n/" + lang + ".json") {
			t.Errorf("dictionary i18n/%s.json is missing", lang)
		}
	}
}

// TestContentSecurityPolicy checks what the config API's policy
// (script-src 'self'; style-src 'self') would block: inline scripts and
// styles, handler attributes, and code built from strings.
func TestContentSecurityPolicy(t *testing.T) {
	forbiddenInHTML := []struct {
		pattern *regexp.Regexp
		why     string
	}{
		{regexp.MustCompile(`(?i)<style`), "inline <style>"},
		{regexp.MustCompile(`(?i)\sstyle\s*=`), "style attribute"},
		{regexp.MustCompile(`(?i)\son[a-z]+\s*=`), "inline event handler"},
		{regexp.MustCompile(`(?i)javascript:`), "javascript: URL"},
	}
	html := readAsset(t, "index.html")
	for _, f := range forbiddenInHTML {
		if loc := f.pattern.FindStringIndex(html); loc != nil {
			t.Errorf("index.html has an %s at byte %d", f.why, loc[0])
		}
	}
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("index.html loads no script")
	}
	for _, s := range scripts {
		if !strings.Contains(s[1], `src="`) || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline script in index.html: <script%s>", s[1])
		}
		if !strings.Contains(s[1], `type="module"`) {
			t.Errorf("script <script%s> is not a module", s[1])
		}
	}

	forbiddenInJS := []struct {
		pattern *regexp.Regexp
		why     string
	}{
		{regexp.MustCompile(`\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write`), "HTML built from strings"},
		{regexp.MustCompile(`\beval\s*\(|new\s+Function\s*\(`), "code built from strings"},
		{regexp.MustCompile(`setAttribute\(\s*['"](?:style|on[a-z]+)['"]|\bstyle:\s`), "inline style or handler attribute"},
	}
	for _, name := range assetsWith(t, ".js") {
		src := readAsset(t, name)
		for _, f := range forbiddenInJS {
			if loc := f.pattern.FindStringIndex(src); loc != nil {
				t.Errorf("%s: %s at byte %d", name, f.why, loc[0])
			}
		}
	}
}

// TestNoExternalURLs keeps the console self-contained: no CDN, no fonts or
// images from elsewhere (connect-src and the rest are 'self').
func TestNoExternalURLs(t *testing.T) {
	external := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|url\(\s*['"]?(?:https?:|//)`)
	for _, name := range assetsWith(t, ".html", ".css", ".js", ".svg") {
		src := readAsset(t, name)
		src = strings.ReplaceAll(src, `xmlns="http://www.w3.org/2000/svg"`, "")
		for _, m := range external.FindAllString(src, -1) {
			t.Errorf("%s refers to another origin: %s", name, m)
		}
	}
}

func dictionary(t *testing.T, lang string) map[string]string {
	t.Helper()
	var dict map[string]string
	if err := json.Unmarshal([]byte(readAsset(t, "i18n/"+lang+".json")), &dict); err != nil {
		t.Fatalf("dictionary %s: %v", lang, err)
	}
	return dict
}

var placeholder = regexp.MustCompile(`\{(\w+)\}`)

func placeholders(s string) []string {
	var names []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestDictionariesAgree(t *testing.T) {
	en := dictionary(t, "en")
	for _, lang := range languages[1:] {
		other := dictionary(t, lang)
		for _, key := range slices.Sorted(maps.Keys(en)) {
			text, ok := other[key]
			switch {
			case !ok:
				t.Errorf("%s has no %q", lang, key)
			case strings.TrimSpace(text) == "":
				t.Errorf("%s[%q] is empty", lang, key)
			case !slices.Equal(placeholders(text), placeholders(en[key])):
				t.Errorf("%s[%q] has placeholders %v, en has %v", lang, key, placeholders(text), placeholders(en[key]))
			}
		}
		for key := range other {
			if _, ok := en[key]; !ok {
				t.Errorf("%s has %q, which en lacks", lang, key)
			}
		}
	}
	for key, text := range en {
		if strings.TrimSpace(text) == "" {
			t.Errorf("en[%q] is empty", key)
		}
	}
}

// TestUsedKeysExist finds the literal translation keys in the pages and
// scripts (t('key'), {t: 'key'}, labelKey: 'key', data-i18n="key", ...)
// and checks the dictionary has each one.
func TestUsedKeysExist(t *testing.T) {
	en := dictionary(t, "en")
	inJS := regexp.MustCompile(`\b(?:t\(|(?:t|label|placeholderKey|titleKey|hintKey|labelKey|key|cell)\s*:\s*)'([a-zA-Z0-9_.]+)'`)
	inHTML := regexp.MustCompile(`data-i18n(?:-label|-placeholder|-title)?="([^"]+)"`)
	used := 0
	for _, name := range assetsWith(t, ".js", ".html") {
		src := readAsset(t, name)
		pattern := inJS
		if strings.HasSuffix(name, ".html") {
			pattern = inHTML
		}
		for _, m := range pattern.FindAllStringSubmatch(src, -1) {
			used++
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s uses translation key %q, which the dictionaries lack", name, m[1])
			}
		}
	}
	if used < 50 {
		t.Errorf("found only %d translation keys in use; is the pattern still right?", used)
	}
}

// TestServedByConfigAPI serves the assets through the config API as a
// deployment does, and checks the types and the policy the browser gets.
func TestServedByConfigAPI(t *testing.T) {
	api := configapi.New(configapi.Config{Console: Assets()})
	tests := []struct {
		path, contentType string
	}{
		{"/", "text/html"},
		{"/console/js/app.js", "javascript"},
		{"/console/console.css", "text/css"},
		{"/console/i18n/it.json", "application/json"},
		{"/console/icon.svg", "image/svg+xml"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := get(t.Context(), t, api, tt.path)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			if ct := resp.Headers["Content-Type"]; !strings.Contains(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.contentType)
			}
			if csp := resp.Headers["Content-Security-Policy"]; !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

func get(ctx context.Context, t *testing.T, api *configapi.API, path string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	event := events.APIGatewayV2HTTPRequest{RawPath: path}
	event.RequestContext.HTTP.Method = "GET"
	event.RequestContext.HTTP.Path = path
	resp, err := api.Handle(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSuggestMapping runs the mapping suggestions (assets/js/suggest.js)
// in Node, which the emulators already need: the obvious pairs by name and
// by meaning, each Contactsend field once, e-mail proposed as match.
func TestSuggestMapping(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("Node is not installed; the browser test still checks the suggestions of the demo")
	}
	dir := t.TempDir()
	module := filepath.Join(dir, "suggest.mjs")
	if err := os.WriteFile(module, []byte(readAsset(t, "js/suggest.js")), 0o600); err != nil {
		t.Fatal(err)
	}
	type option struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		EmailField bool   `json:"emailField,omitempty"`
	}
	type hubField struct {
		Path    string   `json:"path"`
		Type    string   `json:"type"`
		Label   string   `json:"label,omitempty"`
		Options []option `json:"options"`
	}
	text := func(names ...string) []option {
		var out []option
		for _, n := range names {
			out = append(out, option{Name: n, Type: "STRING"})
		}
		return out
	}
	columns := []string{"EMAIL", "FIRST_NAME", "LAST_NAME", "MOBILE", "CITY", "NOTES"}
	tests := []struct {
		name   string
		fields []hubField
		taken  []string
		want   map[string]string // path → Contactsend field; "*" marks the match
	}{
		{
			name: "same name and same meaning",
			fields: []hubField{
				{Path: "base.firstName", Type: "string", Options: text(columns...)},
				{Path: "base.lastName", Type: "string", Options: text(columns...)},
				{Path: "base.contacts.mobilePhone", Type: "string", Options: text(columns...)},
				{Path: "base.contacts.phone", Type: "string", Options: text(columns...)},
				{Path: "base.address.city", Type: "string", Options: text(columns...)},
				{Path: "base.title", Type: "string", Options: text(columns...)},
			},
			want: map[string]string{"base.firstName": "FIRST_NAME", "base.lastName": "LAST_NAME", "base.contacts.mobilePhone": "MOBILE", "base.address.city": "CITY"},
		},
		{
			name: "the userdb's e-mail field is the match, whatever its name",
			fields: []hubField{
				{Path: "base.contacts.email", Type: "email", Options: []option{{Name: "INDIRIZZO_POSTA", Type: "STRING", EmailField: true}, {Name: "NOTE", Type: "TEXT"}}},
			},
			want: map[string]string{"base.contacts.email": "INDIRIZZO_POSTA*"},
		},
		{
			name: "Italian column names",
			fields: []hubField{
				{Path: "base.firstName", Type: "string", Options: text("NOME", "COGNOME", "CITTA")},
				{Path: "base.lastName", Type: "string", Options: text("NOME", "COGNOME", "CITTA")},
				{Path: "base.dob", Type: "date", Options: []option{{Name: "DATA_NASCITA", Type: "DATE"}}},
			},
			want: map[string]string{"base.firstName": "NOME", "base.lastName": "COGNOME", "base.dob": "DATA_NASCITA"},
		},
		{
			name: "an exact name wins over a synonym, and a field is used once",
			fields: []hubField{
				{Path: "base.firstName", Type: "string", Options: text("NAME", "FIRSTNAME")},
				{Path: "extended.name", Type: "string", Options: text("NAME", "FIRSTNAME")},
			},
			want: map[string]string{"base.firstName": "FIRSTNAME", "extended.name": "NAME"},
		},
		{
			name:   "fields already chosen are not suggested again",
			fields: []hubField{{Path: "base.firstName", Type: "string", Options: text("FIRST_NAME")}},
			taken:  []string{"FIRST_NAME"},
			want:   map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input, err := json.Marshal(map[string]any{"fields": tt.fields, "taken": tt.taken})
			if err != nil {
				t.Fatal(err)
			}
			script := `import { suggestMapping } from ` + strconv.Quote("file://"+module) + `;
const input = JSON.parse(process.argv[1]);
const out = {};
for (const [path, s] of suggestMapping(input.fields, new Set(input.taken ?? []))) out[path] = s.sendField + (s.match ? '*' : '');
console.log(JSON.stringify(out));`
			out, err := exec.Command(node, "--input-type=module", "-e", script, string(input)).CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var got map[string]string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("node printed %s: %v", out, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("suggested %v, want %v", got, tt.want)
			}
		})
	}
}
