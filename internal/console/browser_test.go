package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
)

// chromiumPath finds Debian's Chromium, or skips the test (fails it when
// HUBSEND_REQUIRE_BROWSER=1, as CI sets, so a missing browser is never a
// silent pass there).
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/chromium"}
	if p, err := exec.LookPath("chromium"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p
		}
	}
	if os.Getenv("HUBSEND_REQUIRE_BROWSER") == "1" {
		t.Fatal("HUBSEND_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium (apt-get install -y chromium)")
	}
	t.Skip("browser tests need Chromium at /usr/bin/chromium (apt-get install -y chromium); set HUBSEND_REQUIRE_BROWSER=1 to fail instead of skipping")
	return ""
}

// browser is a headless Chromium tab that records what would break the
// console silently: uncaught exceptions and Content-Security-Policy
// violations.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.record("exception: " + exceptionText(ev.ExceptionDetails))
		case *log.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.record("CSP violation: " + ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the browser log: %v", err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the browser's exception reports: %v", err)
	}
	return b
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "unknown"
	}
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d)", text, d.URL, d.LineNumber+1)
}

func (b *browser) record(problem string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, problem)
}

// run performs actions with a deadline, failing the test with what was
// being done.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b.describe())
	}
	b.checkPage(t, what)
}

// describe tells what the page shows, for a failure message.
func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + '\n' + document.querySelector('main').innerText`))
	if err != nil {
		return "(the page cannot be read: " + err.Error() + ")"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("page %s\nproblems: %v", text, b.problems)
}

// value runs one action that returns a value.
func value[T any](t *testing.T, b *browser, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b.checkPage(t, what)
	return v
}

func (b *browser) checkPage(t *testing.T, what string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		t.Fatalf("%s: the page reported %s", what, strings.Join(b.problems, "; "))
	}
}

func (b *browser) text(t *testing.T, selector string) string {
	t.Helper()
	b.run(t, "wait for "+selector, chromedp.WaitVisible(chromedp.CSS(selector)))
	return value(t, b, "read "+selector, chromedp.Text(chromedp.CSS(selector)))
}

// choose picks an option of a <select> as a user would, firing change.
func choose(selector, option string) chromedp.Action[chromedp.Void] {
	return setValue(selector, option)
}

// clearInput empties a text input as a user would, firing input.
func clearInput(selector string) chromedp.Action[chromedp.Void] {
	return setValue(selector, "")
}

func setValue(selector, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		script := fmt.Sprintf(`(() => {
			const el = document.querySelector(%q);
			if (!el) return false;
			if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === %q)) return false;
			el.value = %q;
			el.dispatchEvent(new Event('input', { bubbles: true }));
			el.dispatchEvent(new Event('change', { bubbles: true }));
			return true;
		})()`, selector, v, v)
		ok, err := chromedp.Evaluate[bool](script)(ctx, t)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("cannot set %s to %q", selector, v)
		}
		return nil
	})
}

// waitText polls until the element's text contains want.
func waitText(selector, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			text, err := chromedp.Text(chromedp.CSS(selector))(ctx, t)
			if err == nil && strings.Contains(text, want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never showed %q (last: %q): %w", selector, want, text, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// What a screenshot shows: the whole page, the window, or one element (any
// other value is a CSS selector).
const (
	wholePage = ""
	window    = ":window"
)

// screenshot saves a PNG to docs/screenshots when HUBSEND_SCREENSHOTS=1.
func (b *browser) screenshot(t *testing.T, name, what string) {
	t.Helper()
	if os.Getenv("HUBSEND_SCREENSHOTS") != "1" {
		return
	}
	var shot chromedp.Action[[]byte]
	switch what {
	case wholePage:
		shot = chromedp.FullScreenshot(100)
	case window:
		b.run(t, "scroll to the top", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`)(ctx, tg)
			return err
		}))
		shot = chromedp.CaptureScreenshot()
	default:
		shot = chromedp.Screenshot(chromedp.CSS(what))
	}
	png := value(t, b, "screenshot "+name, shot)
	dir := filepath.Join(moduleRoot(t), "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func startStack(t *testing.T) *devstack.Stack {
	t.Helper()
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 30})
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() { stack.Close() })
	return stack
}

// demoNodes returns the ids of the demo's entry nodes: Italia, United Kingdom.
func demoNodes(t *testing.T, stack *devstack.Stack) (italia, espana string) {
	t.Helper()
	for _, ws := range stack.Hub.Snapshot().Workspaces {
		if ws.ID != devstack.DemoHubWorkspace {
			continue
		}
		for _, n := range ws.EntryNodes {
			switch n.Name {
			case "Italia":
				italia = n.ID
			case "United Kingdom":
				espana = n.ID
			}
		}
	}
	if italia == "" || espana == "" {
		t.Fatalf("the demo has no Italia and United Kingdom entry nodes")
	}
	return italia, espana
}

// TestConsole walks the seed's flow in a real browser against the whole
// local stack: sign in, create a source with its mapping and subscription
// rows, enable it, watch customers reach Contactsend, be refused a
// forbidden change, and read it all in Italian.
func TestConsole(t *testing.T) {
	b := newBrowser(t)
	stack := startStack(t)
	italia, espana := demoNodes(t, stack)
	var sourceID string

	ok := t.Run("sign in", func(t *testing.T) {
		b.run(t, "open the console",
			chromedp.Navigate(stack.APIURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#token")))
		b.run(t, "a wrong token is refused",
			chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"),
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			waitText(".alert-error", "refused"))
		b.run(t, "sign in",
			clearInput("#token"),
			chromedp.SendKeys(chromedp.CSS("#token"), stack.APIToken),
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#new-source")))
	})
	ok = ok && t.Run("create a source", func(t *testing.T) {
		b.run(t, "open the form",
			chromedp.Click(chromedp.CSS("#new-source")),
			chromedp.WaitVisible(chromedp.CSS("#f-name")),
			chromedp.SendKeys(chromedp.CSS("#f-name"), "Newsletter Italia"),
			chromedp.SendKeys(chromedp.CSS("#f-description"), "Clienti italiani verso la newsletter"),
			chromedp.SendKeys(chromedp.CSS("#f-node"), italia),
			// The node field suggests the workspace's nodes.
			chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#f-node-options option[value=%q]`, italia))),
			chromedp.SendKeys(chromedp.CSS("#f-userKey"), devstack.DemoSendUserKey),
			chromedp.SendKeys(chromedp.CSS("#f-apiKey"), devstack.DemoSendAPIKey),
			chromedp.SendKeys(chromedp.CSS("#f-userDb"), fmt.Sprint(devstack.DemoUserDB)))
		b.run(t, "show fields to map",
			chromedp.Click(chromedp.CSS("#show-fields")),
			chromedp.WaitVisible(chromedp.CSS(`#mapping-panel tr[data-path="base.contacts.email"] select`)),
			chromedp.WaitVisible(chromedp.CSS("#subs-panel")))
		checkLabels(t, b, "the form")
		b.run(t, "map email as match, first name and birth date",
			choose(`tr[data-path="base.contacts.email"] select`, "EMAIL"),
			chromedp.Click(chromedp.CSS(`tr[data-path="base.contacts.email"] input.match`)),
			choose(`tr[data-path="base.firstName"] select`, "FIRST_NAME"),
			choose(`tr[data-path="base.dob"] select`, "BIRTH_DATE"),
			chromedp.Click(chromedp.CSS(`tr[data-path="base.dob"] input.clear`)))
		b.run(t, "two subscription rows with +, remove one, add it back",
			chromedp.Click(chromedp.CSS("#add-subscription")),
			chromedp.Click(chromedp.CSS("#add-subscription")),
			chromedp.WaitVisible(chromedp.CSS(".sub-row:nth-child(2)")),
			chromedp.Click(chromedp.CSS(".sub-row:nth-child(2) button.remove")),
			chromedp.WaitNotPresent(chromedp.CSS(".sub-row:nth-child(2)")),
			chromedp.Click(chromedp.CSS("#add-subscription")),
			chromedp.WaitVisible(chromedp.CSS(".sub-row:nth-child(2)")))
		b.run(t, "fill the subscription rows",
			chromedp.SendKeys(chromedp.CSS(".sub-row:nth-child(1) input[id$=-hub]"), "newsletter"),
			choose(".sub-row:nth-child(1) select", "1"),
			chromedp.SendKeys(chromedp.CSS(".sub-row:nth-child(2) input[id$=-hub]"), "promotions"),
			choose(".sub-row:nth-child(2) select", "2"))
		webform := value(t, b, "the web form code comes from the chosen system",
			chromedp.Value(chromedp.CSS(".sub-row:nth-child(2) input[id$=-webform]")))
		if webform != "230004001356" {
			t.Errorf("web form code of system 2 = %q, want 230004001356", webform)
		}
		b.screenshot(t, "source-form", wholePage)
		b.screenshot(t, "source-form-subscriptions", "#subs-panel")
		b.run(t, "save",
			chromedp.Click(chromedp.CSS("#save")),
			chromedp.WaitVisible(chromedp.CSS("#enabled-switch")))
		hash := value(t, b, "read the page address", chromedp.Evaluate[string](`location.hash`))
		sourceID = strings.TrimPrefix(hash, "#/sources/")
		if sourceID == "" || strings.Contains(sourceID, "/") {
			t.Fatalf("after saving the page is %q, want a source page", hash)
		}
	})
	ok = ok && t.Run("enable and see it listed", func(t *testing.T) {
		b.run(t, "enable",
			chromedp.WaitVisible(chromedp.CSS(`#enabled-switch[aria-checked="false"]`)),
			chromedp.Click(chromedp.CSS("#enabled-switch")),
			chromedp.WaitVisible(chromedp.CSS(`#enabled-switch[aria-checked="true"]`)))
		other := createSource(t, stack, `{"name": "Eventi UK", "description": "Inviti agli eventi",
			"nodes": ["`+espana+`"], "enabled": false,
			"properties": {"userKey": "`+devstack.DemoSendUserKey+`", "apiKey": "`+devstack.DemoSendAPIKey+`",
				"userDbId": `+fmt.Sprint(devstack.DemoUserDB+1)+`,
				"fieldMapping": [{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
					{"hubField": "base.firstName", "sendField": "NAME", "match": false}]}}`)
		row := fmt.Sprintf(`#sources tr[data-id="%s"]`, sourceID)
		b.run(t, "list",
			chromedp.Click(chromedp.CSS(`#nav a[data-route="sources"]`)),
			waitText(row+" td.state", "Enabled"),
			waitText(row+" th", "Newsletter Italia"),
			waitText(fmt.Sprintf(`#sources tr[data-id="%s"] td.state`, other), "Disabled"),
			chromedp.WaitVisible(chromedp.CSS(row+" td.health .badge")))
		if got := b.text(t, row+" td:nth-of-type(1)"); !strings.Contains(got, italia) {
			t.Errorf("listed node %q, want %s", got, italia)
		}
		b.screenshot(t, "source-list", window)
	})
	ok = ok && t.Run("customers arrive in Contactsend", func(t *testing.T) {
		before := subscriberEmails(t, stack)
		b.run(t, "resync from the source page",
			chromedp.Navigate(stack.APIURL+"/#/sources/"+sourceID),
			chromedp.WaitVisible(chromedp.CSS("#resync")),
			chromedp.Click(chromedp.CSS("#resync")),
			waitText("#operations-panel", "Resync started"))
		want := italianEmails(t, stack, italia)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := stack.Scheduler.Tick(t.Context()); err != nil {
				t.Fatalf("scheduler tick: %v", err)
			}
			got := subscriberEmails(t, stack)
			missing := 0
			for email := range want {
				if !got[email] {
					missing++
				}
			}
			if missing == 0 {
				t.Logf("%d customers of Italia reached userdb %d (it had %d subscribers before)", len(want), devstack.DemoUserDB, len(before))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d customers of Italia never reached Contactsend", missing, len(want))
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.run(t, "status shows the sync",
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("#enabled-switch")),
			chromedp.WaitNotPresent(chromedp.CSS("#status-panel[aria-busy]")))
		checkLabels(t, b, "the source page")
		customer := firstCustomer(t, stack, italia)
		b.run(t, "preview a customer",
			chromedp.SendKeys(chromedp.CSS("#preview-customer"), customer),
			chromedp.Click(chromedp.CSS(`#preview-panel button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#preview-panel .preview-result > *")))
		b.screenshot(t, "source-status", wholePage)
		b.run(t, "the list shows the sync's health",
			chromedp.Click(chromedp.CSS(`#nav a[data-route="sources"]`)),
			waitText(fmt.Sprintf(`#sources tr[data-id="%s"] td.health`, sourceID), "Healthy"))
		b.screenshot(t, "source-list", window)
	})
	ok = ok && t.Run("a forbidden change is refused with its reasons", func(t *testing.T) {
		b.run(t, "change the node of the enabled source",
			chromedp.Navigate(stack.APIURL+"/#/sources/"+sourceID+"/edit"),
			chromedp.WaitVisible(chromedp.CSS(`#mapping-panel tr[data-path="base.contacts.email"] select`)),
			clearInput("#f-node"),
			chromedp.SendKeys(chromedp.CSS("#f-node"), espana),
			chromedp.Click(chromedp.CSS("#save")),
			chromedp.WaitVisible(chromedp.CSS("#refused .requirements")))
		reasons := b.text(t, "#refused .requirements")
		for _, want := range []string{"the source must be disabled", "the current node must have no customers"} {
			if !strings.Contains(reasons, want) {
				t.Errorf("refusal lists %q, want it to include %q", reasons, want)
			}
		}
		b.screenshot(t, "refused-change", window)
	})
	t.Run("Italian", func(t *testing.T) {
		if !ok {
			t.Skip("an earlier step failed")
		}
		b.run(t, "switch language", choose("#language", "it"), waitText(`label[for="f-name"]`, "Nome"))
		for selector, want := range map[string]string{
			`label[for="f-description"]`: "Descrizione",
			`label[for="f-node"]`:        "Nodo attivo",
			"#provider-title":            "Opzioni del Provider",
			"#show-fields":               "Mostra i campi da associare",
			"#refused .requirements":     "la source deve essere disabilitata",
			"#subs-title":                "Sincronizzazione delle sottoscrizioni",
			`label[for$="-webform"]`:     "Codice Webform",
		} {
			if got := b.text(t, selector); !strings.Contains(got, want) {
				t.Errorf("%s reads %q in Italian, want %q", selector, got, want)
			}
		}
		if got := b.text(t, "#refused .requirements"); !strings.Contains(got, "il nodo attuale deve essere vuoto") {
			t.Errorf("requirements in Italian: %q", got)
		}
		lang := value(t, b, "document language", chromedp.Evaluate[string](`document.documentElement.lang`))
		if lang != "it" {
			t.Errorf("<html lang=%q>, want it", lang)
		}
		b.screenshot(t, "refused-change-it", window)
		b.run(t, "back to English", choose("#language", "en"), waitText(`label[for="f-name"]`, "Name"))
	})
	t.Run("workspace settings", func(t *testing.T) {
		if !ok {
			t.Skip("an earlier step failed")
		}
		b.run(t, "open the workspace settings",
			chromedp.Click(chromedp.CSS(`#nav a[data-route="workspace"]`)),
			waitText("main .hint code", devstack.DemoWorkspace))
		if got := value(t, b, "read the base URL", chromedp.Value(chromedp.CSS("#w-baseUrl"))); got != stack.ContacthubURL+"/hub/v1" {
			t.Errorf("base URL %q, want %s/hub/v1", got, stack.ContacthubURL)
		}
		placeholder := value(t, b, "read the token placeholder", chromedp.Evaluate[string](`document.getElementById('w-token').placeholder`))
		if placeholder == "" || strings.Contains(placeholder, devstack.DemoHubToken) {
			t.Errorf("the token field shows %q; want the masked token", placeholder)
		}
		b.run(t, "save without retyping the token",
			chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)),
			waitText(".alert-success", "saved"))
		checkLabels(t, b, "the workspace settings")
	})
}

// checkLabels fails the test for any visible form control without a label:
// keyboard and screen reader users could not tell what it is for.
func checkLabels(t *testing.T, b *browser, where string) {
	t.Helper()
	unlabelled := value(t, b, "find unlabelled controls on "+where, chromedp.Evaluate[[]string](`[...document.querySelectorAll('main input, main select, main textarea')]
		.filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.closest('[hidden]'))
		.map((el) => el.id || el.outerHTML.slice(0, 80))`))
	if len(unlabelled) > 0 {
		t.Errorf("controls without a <label> on %s: %v", where, unlabelled)
	}
}

// createSource creates a source through the API, as a script would, and
// returns its id.
func createSource(t *testing.T, stack *devstack.Stack, body string) string {
	t.Helper()
	status, created := stack.CallT(t, http.MethodPost, "/v1/sources", json.RawMessage(body))
	if status != http.StatusCreated {
		t.Fatalf("create a source: status %d: %v", status, created["message"])
	}
	id, _ := created["id"].(string)
	if id == "" {
		t.Fatalf("create a source: no id in %v", created)
	}
	return id
}

func firstCustomer(t *testing.T, stack *devstack.Stack, node string) string {
	t.Helper()
	for _, c := range stack.Hub.Customers(devstack.DemoHubWorkspace) {
		if id, ok := c["id"].(string); ok && c["nodeId"] == node {
			return id
		}
	}
	t.Fatal("the demo has no customer in Italia")
	return ""
}

func subscriberEmails(t *testing.T, stack *devstack.Stack) map[string]bool {
	t.Helper()
	subscribers, err := stack.Send.Subscribers(devstack.DemoUserDB)
	if err != nil {
		t.Fatal(err)
	}
	emails := make(map[string]bool, len(subscribers))
	for _, s := range subscribers {
		if email, ok := s.Attributes["EMAIL"].(string); ok {
			emails[email] = true
		}
	}
	return emails
}

func italianEmails(t *testing.T, stack *devstack.Stack, node string) map[string]bool {
	t.Helper()
	emails := map[string]bool{}
	for _, c := range stack.Hub.Customers(devstack.DemoHubWorkspace) {
		if c["nodeId"] != node {
			continue
		}
		base, _ := c["base"].(map[string]any)
		contacts, _ := base["contacts"].(map[string]any)
		if email, ok := contacts["email"].(string); ok {
			emails[email] = true
		}
	}
	if len(emails) == 0 {
		t.Fatal("the demo has no customer with an email in Italia")
	}
	return emails
}
