package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hubsend/hubsend/internal/ledger"
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

// click clicks the element once it stands still: panels that load after a
// page shows push what is below them down, and a click aimed where the
// element was a moment ago lands on something else (a resync click was lost
// so once, on a loaded machine).
func click(selector string) chromedp.Action[chromedp.Void] {
	script := fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) return '';
		const r = el.getBoundingClientRect();
		return [r.x, r.y, r.width, r.height, document.documentElement.scrollHeight].join(',');
	})()`, selector)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		last := ""
		for {
			place, err := chromedp.Evaluate[string](script)(ctx, t)
			if err == nil && place != "" && place == last {
				_, err := chromedp.Click(chromedp.CSS(selector))(ctx, t)
				return err
			}
			last = place
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never stood still to be clicked (last place %q): %w", selector, place, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// waitText polls until the element's text contains want.
func waitText(selector, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			text, err := chromedp.Evaluate[string](textScript(selector))(ctx, t)
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

// waitNoneWaiting polls the source's status until no job waits for a
// retry.
func waitNoneWaiting(t *testing.T, stack *devstack.Stack, sourceID string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, body := stack.CallT(t, "GET", "/v1/sources/"+sourceID+"/status", nil)
		waiting, _ := body["waiting"].(map[string]any)
		count, _ := waiting["count"].(float64)
		if status == http.StatusOK && count == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d: jobs still waiting for a retry after 2 minutes: %v", status, body["waiting"])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// textScript reads an element's text as shown, or its text content when
// it is not rendered (an <option>, a hidden cell).
func textScript(selector string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector(%q); return el ? (el.innerText || el.textContent) : ''; })()`, selector)
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
	// The test runs the scheduler itself (Scheduler.Tick), so that what the
	// status shows right after enabling does not race a timed tick.
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 30, ScheduleEvery: time.Hour})
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
// local stack, pressing every button and link of the console at least once
// and checking what each shows: sign in, create a source with its mapping
// and subscription rows, test its connection, enable it, watch customers
// reach Contactsend and the status move by itself, retry a failed record,
// make a webhook secret, delete a source, be refused a forbidden change,
// read it all in Italian. Every page passes axe-core with no violation and
// does not scroll sideways at 390 px.
func TestConsole(t *testing.T) {
	b := newBrowser(t)
	stack := startStack(t)
	italia, uk := demoNodes(t, stack)
	var sourceID, otherID string

	ok := t.Run("sign in", func(t *testing.T) {
		b.run(t, "open the console",
			chromedp.Navigate(stack.APIURL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#sign-in")))
		b.run(t, "a token can be pasted instead",
			click("#token-signin summary"),
			chromedp.WaitVisible(chromedp.CSS("#token")))
		b.inspect(t, "sign in", "signin")
		b.run(t, "a wrong token is refused",
			chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"),
			click(`form button[type="submit"]`),
			waitText(".alert-error", "refused"))
		signIn(t, b, "admin")
		b.run(t, "signed in as the admin",
			chromedp.WaitVisible(chromedp.CSS("#new-source")))
		checkNothingStored(t, b)
	})
	ok = ok && t.Run("create a source", func(t *testing.T) {
		b.run(t, "the empty list offers a first source",
			chromedp.WaitVisible(chromedp.CSS(".empty a")))
		b.inspect(t, "the empty list", "")
		b.run(t, "open the form from the empty list",
			click(".empty a"),
			chromedp.WaitVisible(chromedp.CSS("#f-name")),
			// The node is chosen by name among the workspace's nodes.
			chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#f-node option[value=%q]`, italia))))
		if got := value(t, b, "read the node option", chromedp.Evaluate[string](textScript(fmt.Sprintf(`#f-node option[value=%q]`, italia)))); got != "Italia" {
			t.Errorf("the node option reads %q, want Italia", got)
		}
		b.run(t, "show fields to map without keys",
			click("#show-fields"),
			waitText(".alert-error", "fields to map could not be shown"))
		if got := b.text(t, ".alert-error"); strings.Contains(got, "not saved") {
			t.Errorf("showing the fields without keys says %q; nothing was being saved", got)
		}
		b.run(t, "fill the form",
			chromedp.SendKeys(chromedp.CSS("#f-name"), "Newsletter Italia"),
			chromedp.SendKeys(chromedp.CSS("#f-description"), "Clienti italiani verso la newsletter"),
			choose("#f-node", italia),
			chromedp.SendKeys(chromedp.CSS("#f-userKey"), devstack.DemoSendUserKey),
			chromedp.SendKeys(chromedp.CSS("#f-apiKey"), devstack.DemoSendAPIKey),
			chromedp.SendKeys(chromedp.CSS("#f-userDb"), fmt.Sprint(devstack.DemoUserDB)))
		b.run(t, "test the connection",
			click("#test-connection"),
			waitText("#connection-result", "The connection works"),
			waitText(`#connection-result li[data-check="contacthub"]`, "Italia"),
			waitText(`#connection-result li[data-check="userdb"]`, "Newsletter clienti"))
		b.run(t, "show fields to map",
			click("#show-fields"),
			chromedp.WaitVisible(chromedp.CSS(`#mapping-panel tr[data-path="base.contacts.email"] select`)),
			chromedp.WaitVisible(chromedp.CSS("#subs-panel")))
		checkLabels(t, b, "the form")
		// The obvious pairs come suggested, e-mail as the match field.
		for path, want := range map[string]string{"base.contacts.email": "EMAIL", "base.firstName": "FIRST_NAME", "base.lastName": "LAST_NAME", "base.dob": "BIRTH_DATE"} {
			row := fmt.Sprintf(`tr[data-path=%q]`, path)
			if got := value(t, b, "read the suggestion for "+path, chromedp.Value(chromedp.CSS(row+" select"))); got != want {
				t.Errorf("suggested %s for %s, want %s", got, path, want)
			}
			b.run(t, path+" is marked suggested", chromedp.WaitVisible(chromedp.CSS(row+".suggested .suggested-mark")))
		}
		if !value(t, b, "is e-mail the match field", chromedp.Evaluate[bool](`document.querySelector('tr[data-path="base.contacts.email"] input.match').checked`)) {
			t.Error("e-mail is not proposed as the match field")
		}
		b.run(t, "filter the fields by name",
			chromedp.SendKeys(chromedp.CSS("#mapping-filter"), "birth"),
			waitText("#mapping-count", "1 of"))
		visible := value(t, b, "rows shown by the filter", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#mapping-panel tbody tr:not([hidden])')].map((tr) => tr.dataset.path)`))
		if len(visible) != 1 || visible[0] != "base.dob" {
			t.Errorf("filtering by 'birth' shows %v, want [base.dob]", visible)
		}
		b.run(t, "only the mapped fields",
			clearInput("#mapping-filter"),
			click("#mapped-only"))
		shown := value(t, b, "rows shown as mapped", chromedp.Evaluate[[]bool](`[...document.querySelectorAll('#mapping-panel tbody tr:not([hidden])')].map((tr) => tr.classList.contains('mapped'))`))
		if len(shown) < 4 || slices.Contains(shown, false) {
			t.Errorf("'mapped only' shows rows mapped=%v, want at least the 4 suggested and only mapped ones", shown)
		}
		b.run(t, "all fields again; nothing more to suggest",
			click("#mapped-only"),
			click("#suggest-mapping"),
			waitText("#announcer", "No further pair"))
		b.run(t, "keep first and last name and birth date, blank the birth date when empty",
			discard(chromedp.Evaluate[bool](`[...document.querySelectorAll('#mapping-panel tr.mapped')].filter((tr) => !['base.contacts.email', 'base.firstName', 'base.lastName', 'base.dob'].includes(tr.dataset.path)).forEach((tr) => { const s = tr.querySelector('select'); s.value = ''; s.dispatchEvent(new Event('change')); }), true`)),
			click(`tr[data-path="base.dob"] input.clear`))
		b.run(t, "two subscription rows with +, remove one, add it back",
			click("#add-subscription"),
			click("#add-subscription"),
			chromedp.WaitVisible(chromedp.CSS(".sub-row:nth-child(2)")),
			click(".sub-row:nth-child(2) button.remove"),
			chromedp.WaitNotPresent(chromedp.CSS(".sub-row:nth-child(2)")),
			click("#add-subscription"),
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
		// The draft is previewed before it is saved, the customer found by
		// its e-mail in the chosen node.
		email := customerEmail(t, stack, italia)
		b.run(t, "preview a customer of the draft",
			chromedp.SendKeys(chromedp.CSS("#draft-preview-customer"), email),
			click("#draft-preview"),
			chromedp.WaitVisible(chromedp.CSS("#draft-preview-result table")),
			waitText("#draft-preview-result", "FIRST_NAME"))
		b.run(t, "skip customers without a match value", click("#oum-skip"))
		b.inspect(t, "the form", "source-form")
		b.screenshot(t, "source-form", wholePage)
		b.screenshot(t, "source-form-subscriptions", "#subs-panel")
		b.run(t, "save",
			click("#save"),
			chromedp.WaitVisible(chromedp.CSS("#enabled-switch")))
		hash := value(t, b, "read the page address", chromedp.Evaluate[string](`location.hash`))
		sourceID = strings.TrimPrefix(hash, "#/sources/")
		if sourceID == "" || strings.Contains(sourceID, "/") {
			t.Fatalf("after saving the page is %q, want a source page", hash)
		}
		if _, body := stack.CallT(t, http.MethodGet, "/v1/sources/"+sourceID, nil); body["properties"].(map[string]any)["onUnmatchable"] != "skip" {
			t.Errorf("the saved source's onUnmatchable = %v, want skip", body["properties"].(map[string]any)["onUnmatchable"])
		}
	})
	ok = ok && t.Run("enable and see it listed", func(t *testing.T) {
		b.run(t, "the switch says the source is disabled",
			chromedp.WaitVisible(chromedp.CSS(`#enabled-switch[aria-checked="false"]`)),
			waitText("#enabled-switch", "Disabled"))
		b.run(t, "enable",
			click("#enabled-switch"),
			chromedp.WaitVisible(chromedp.CSS(`#enabled-switch[aria-checked="true"]`)),
			waitText("#enabled-switch", "Enabled"))
		if got := b.text(t, "#enabled-switch"); strings.Contains(got, "Disabled") {
			t.Errorf("the enabled switch reads %q", got)
		}
		// The status says when the scheduler will first run the source.
		b.run(t, "the first run is announced", waitText("#first-run", "first run is due"))
		otherID = createSource(t, stack, `{"name": "Eventi UK", "description": "Inviti agli eventi",
			"nodes": ["`+uk+`"], "enabled": false,
			"properties": {"userKey": "`+devstack.DemoSendUserKey+`", "apiKey": "`+devstack.DemoSendAPIKey+`",
				"userDbId": `+fmt.Sprint(devstack.DemoUserDB+1)+`,
				"fieldMapping": [{"hubField": "base.contacts.email", "sendField": "EMAIL", "match": true},
					{"hubField": "base.firstName", "sendField": "NAME", "match": false}]}}`)
		row := fmt.Sprintf(`#sources tr[data-id="%s"]`, sourceID)
		b.run(t, "list",
			click(`#nav a[data-route="sources"]`),
			waitText(row+" td.state", "Enabled"),
			waitText(row+" th", "Newsletter Italia"),
			waitText(fmt.Sprintf(`#sources tr[data-id="%s"] td.state`, otherID), "Disabled"),
			chromedp.WaitVisible(chromedp.CSS(row+" td.health .badge")),
			// Nodes show by name.
			waitText(row+" td.node-cell", "Italia"))
		if got := b.text(t, row+" td.node-cell"); strings.Contains(got, italia) {
			t.Errorf("the list shows node %q; want its name, not its id", got)
		}
		b.screenshot(t, "source-list", window)
	})
	ok = ok && t.Run("customers arrive in Contactsend", func(t *testing.T) {
		before := subscriberEmails(t, stack)
		b.run(t, "open the source from the list",
			click(fmt.Sprintf(`#sources tr[data-id="%s"] th a`, sourceID)),
			chromedp.WaitVisible(chromedp.CSS("#resync")),
			waitText("#summary-panel", "Italia"))
		b.run(t, "resync",
			click("#resync"),
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
		// The status follows without Refresh being pressed.
		b.run(t, "the status moves by itself", waitText("#status-panel", "Done:"))
		b.run(t, "refresh", click("#refresh-status"), waitText("#status-updated", "Updated"))
		checkLabels(t, b, "the source page")
		customer := firstCustomer(t, stack, italia)
		b.run(t, "preview a customer",
			chromedp.SendKeys(chromedp.CSS("#preview-customer"), customer),
			click(`#preview-panel button[type="submit"]`),
			chromedp.WaitVisible(chromedp.CSS("#preview-panel .preview-result > *")))
		b.inspect(t, "the source page", "source-status")
		b.screenshot(t, "source-status", wholePage)
		// Jobs given back while the backfill raced the change feed (a held
		// add claim, a slow machine) show as waiting until they come again;
		// the list reads "Healthy" once none waits.
		waitNoneWaiting(t, stack, sourceID)
		b.run(t, "the list shows the sync's health",
			click(`#nav a[data-route="sources"]`),
			waitText(fmt.Sprintf(`#sources tr[data-id="%s"] td.health`, sourceID), "Healthy"))
		b.inspect(t, "the list", "source-list")
		b.screenshot(t, "source-list", window)
	})
	ok = ok && t.Run("runs and a customer's history", func(t *testing.T) {
		customer := firstCustomer(t, stack, italia)
		b.run(t, "the source page lists its runs and finds a customer",
			chromedp.Navigate(stack.APIURL+"/#/sources/"+sourceID),
			chromedp.WaitVisible(chromedp.CSS("#runs tbody tr")),
			chromedp.WaitVisible(chromedp.CSS("#runs-chart .chart-day")),
			chromedp.SendKeys(chromedp.CSS("#find-customer"), customer),
			click(`#find-customer-form button[type="submit"]`),
			waitHash("#/sources/"+sourceID+"/customers/"+customer),
			chromedp.WaitVisible(chromedp.CSS("#history tbody tr")))
		// The first load went through the bulk lane, which records no data
		// entry (see the bulk package); the subscription rows' first sync is
		// the per-customer lane's, and is in the trail.
		if got := b.text(t, "#history tbody"); !strings.Contains(got, "first sync") || !strings.Contains(got, "backfill") {
			t.Errorf("the customer's history reads %q, want the first load's subscription entries", got)
		}
		b.inspect(t, "a customer's history", "")
		b.run(t, "back to the source, then to the list",
			click(".breadcrumb a"),
			chromedp.WaitVisible(chromedp.CSS("#alerts-form")),
			click(`#nav a[data-route="sources"]`),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#sources tr[data-id="%s"]`, sourceID))))
	})
	ok = ok && t.Run("a few failed records do not make the source an error", func(t *testing.T) {
		customers := italianCustomers(t, stack, italia)
		now := time.Now()
		for _, c := range customers[:2] {
			if err := stack.Ledger.RecordFailure(t.Context(), ledger.Failure{SourceID: sourceID, CustomerID: c, Kind: ledger.Coercion,
				Reason: "BIRTH_DATE: not a date", LastFailedAt: now, JobReason: "feed"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := stack.Ledger.AddStats(t.Context(), sourceID, ledger.Batch{Counts: ledger.Counts{Failed: 2}, LastError: "BIRTH_DATE: not a date", ProcessedAt: now}); err != nil {
			t.Fatal(err)
		}
		health := fmt.Sprintf(`#sources tr[data-id="%s"] td.health`, sourceID)
		b.run(t, "the list counts the failures", chromedp.Reload(), waitText(health, "2 failed in the last hour"))
		b.run(t, "the source page lists them and can retry one",
			click(fmt.Sprintf(`#sources tr[data-id="%s"] th a`, sourceID)),
			waitText("#status-panel .status-line", "2 failed in the last hour"),
			waitText("#failures", customers[0]),
			click(fmt.Sprintf(`#failures tr[data-customer=%q] button.retry`, customers[0])),
			waitText(fmt.Sprintf(`#failures tr[data-customer=%q] button.retry`, customers[0]), "Queued"))
		if got := b.text(t, "#status-panel .status-line"); strings.Contains(got, "Not reading") {
			t.Errorf("two failed records make the status read %q", got)
		}
		// Past a page of failed records, "Show more" reads the next one.
		for i := range 50 {
			if err := stack.Ledger.RecordFailure(t.Context(), ledger.Failure{SourceID: sourceID, CustomerID: fmt.Sprintf("customer-%02d", i), Kind: ledger.Rejected,
				Reason: "EMAIL: rejected by Contactsend", LastFailedAt: now, JobReason: "feed"}); err != nil {
				t.Fatal(err)
			}
		}
		b.run(t, "a page of failed records, then the next",
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("#more-failures")),
			click("#more-failures"),
			chromedp.WaitNotVisible(chromedp.CSS("#more-failures")))
		// The retried customer may have synced meanwhile, clearing its record.
		listed := value(t, b, "read the failed records", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#failures tbody tr')].map((tr) => tr.dataset.customer)`))
		want := []string{customers[1]}
		for i := range 50 {
			want = append(want, fmt.Sprintf("customer-%02d", i))
		}
		for _, c := range want {
			if !slices.Contains(listed, c) {
				t.Errorf("after Show more the failed records lack %s", c)
			}
		}
		if sorted := slices.Sorted(slices.Values(listed)); len(slices.Compact(sorted)) != len(listed) {
			t.Errorf("a failed record is listed twice: %v", listed)
		}
		b.run(t, "find one customer's failed record",
			chromedp.SendKeys(chromedp.CSS("#failures-search"), "customer-07"),
			click(`#failures-panel form[role="search"] button`),
			chromedp.WaitNotPresent(chromedp.CSS(`#failures tr[data-customer="customer-00"]`)),
			waitText("#failures", "customer-07"))
		found := value(t, b, "read the records found", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#failures tbody tr')].map((tr) => tr.dataset.customer)`))
		if !slices.Equal(found, []string{"customer-07"}) {
			t.Errorf("searching customer-07 lists %v", found)
		}
	})
	ok = ok && t.Run("retry all and export take every part", func(t *testing.T) {
		// A source with many failed records is answered in parts (configapi's
		// TestFailuresComeInParts); two small parts stand in for them here,
		// served in the page as the API serves them.
		b.run(t, "the API answers in two parts", discard(chromedp.Evaluate[bool](`(() => {
			window.retryBodies = [];
			const realFetch = window.fetch.bind(window);
			window.fetch = async (input, init = {}) => {
				const url = new URL(typeof input === 'string' ? input : input.url, location.href);
				if (url.pathname.endsWith('/failures/retry')) {
					const body = JSON.parse(init.body);
					window.retryBodies.push(body);
					const answer = body.cursor === 'part2' ? { status: 'enqueued', enqueued: 2 } : { status: 'enqueued', enqueued: 3, nextCursor: 'part2' };
					return new Response(JSON.stringify(answer), { status: 202, headers: { 'Content-Type': 'application/json' } });
				}
				if (url.pathname.endsWith('/failures.csv')) {
					if (url.searchParams.get('cursor') === 'part2') {
						return new Response('customerId,email\nc3,c3@example.com\n', { status: 200, headers: { 'Content-Type': 'text/csv' } });
					}
					return new Response('customerId,email\nc1,c1@example.com\nc2,c2@example.com\n',
						{ status: 200, headers: { 'Content-Type': 'text/csv', Link: '<' + url.pathname + '?cursor=part2>; rel="next"' } });
				}
				return realFetch(input, init);
			};
			const realObjectURL = URL.createObjectURL;
			URL.createObjectURL = (blob) => {
				const out = document.createElement('pre');
				out.id = 'exported-csv';
				out.hidden = true;
				blob.text().then((text) => { out.textContent = text; document.body.append(out); });
				return realObjectURL(blob);
			};
			return true;
		})()`)),
			click("#retry-all-failures"),
			waitText("#failures-actions", "5 failed records queued again."),
			click("#export-failures"),
			waitText("#exported-csv", "c3,c3@example.com"))
		bodies := value(t, b, "what retry all sent", chromedp.Evaluate[string](`JSON.stringify(window.retryBodies)`))
		if bodies != `[{"all":true},{"all":true,"cursor":"part2"}]` {
			t.Errorf("retry all sent %s, want a first call and one with the cursor it was given", bodies)
		}
		if got, want := value(t, b, "read the exported file", chromedp.Evaluate[string](textScript("#exported-csv"))), "customerId,email\nc1,c1@example.com\nc2,c2@example.com\nc3,c3@example.com\n"; got != want {
			t.Errorf("the exported file holds %q, want both parts under one header: %q", got, want)
		}
		b.run(t, "the page's own fetch again", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#failures-actions")))
	})
	ok = ok && t.Run("a new webhook secret is shown once", func(t *testing.T) {
		b.run(t, "make a new secret",
			acceptConfirm(),
			click("#webhook-secret"),
			chromedp.WaitVisible(chromedp.CSS("#secret-value")))
		confirmed := value(t, b, "what was confirmed", chromedp.Evaluate[[]string](`window.confirmed`))
		if len(confirmed) != 1 || !strings.Contains(confirmed[0], "24 hours") {
			t.Errorf("the confirmation asked %q", confirmed)
		}
		box := b.text(t, "#operations-panel .secret-box")
		if strings.Contains(box, "[object") {
			t.Errorf("the secret box shows %q", box)
		}
		for _, id := range []string{"secret-value", "signed-url", "token-url"} {
			got := value(t, b, "read "+id, chromedp.Value(chromedp.CSS("#"+id)))
			if got == "" || strings.Contains(got, "undefined") {
				t.Errorf("#%s holds %q", id, got)
			}
		}
		focused := value(t, b, "where the focus is", chromedp.Evaluate[string](`document.activeElement.id`))
		if focused != "secret-value" {
			t.Errorf("focus is on %q, want the secret", focused)
		}
		copies := value(t, b, "count the copy buttons", chromedp.Evaluate[int](`document.querySelectorAll('.secret-box .copy-row button').length`))
		for i := 1; i <= copies; i++ {
			b.run(t, "copy", click(fmt.Sprintf(".secret-box .copy-row:nth-of-type(%d) button", i)),
				waitText("#announcer", "op"))
		}
		if copies != 3 {
			t.Errorf("%d copy buttons, want 3", copies)
		}
		b.inspect(t, "the source page with its secret", "")
	})
	ok = ok && t.Run("delete a disabled source", func(t *testing.T) {
		b.run(t, "open the disabled source",
			chromedp.Navigate(stack.APIURL+"/#/sources/"+otherID),
			chromedp.WaitVisible(chromedp.CSS("#delete-source")),
			waitText("#enabled-switch", "Disabled"),
			acceptConfirm(),
			click("#delete-source"),
			waitText(".alert-success", "deleted"),
			chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf(`#sources tr[data-id="%s"]`, otherID))))
	})
	ok = ok && t.Run("a forbidden change is refused with its reasons", func(t *testing.T) {
		b.run(t, "a node another source serves cannot be chosen for a new source",
			click("#new-source"),
			chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#f-node option[value=%q]`, italia))),
			waitText(fmt.Sprintf(`#f-node option[value=%q]`, italia), "already served by “Newsletter Italia”"))
		if !value(t, b, "is Italia disabled", chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector('#f-node option[value=%q]').disabled`, italia))) {
			t.Error("a node another source serves can be chosen")
		}
		b.run(t, "cancel", click(".form-actions a"), chromedp.WaitVisible(chromedp.CSS("#new-source")))
		b.run(t, "change the node of the enabled source",
			chromedp.Navigate(stack.APIURL+"/#/sources/"+sourceID),
			chromedp.WaitVisible(chromedp.CSS("#edit-source")),
			click("#edit-source"),
			chromedp.WaitVisible(chromedp.CSS(`#mapping-panel tr[data-path="base.contacts.email"] select`)),
			choose("#f-node", uk),
			click("#save"),
			chromedp.WaitVisible(chromedp.CSS("#refused .requirements")))
		reasons := b.text(t, "#refused .requirements")
		for _, want := range []string{"the source must be disabled", "the current node must have no customers"} {
			if !strings.Contains(reasons, want) {
				t.Errorf("refusal lists %q, want it to include %q", reasons, want)
			}
		}
		b.inspect(t, "a refused change", "refused-change")
		b.screenshot(t, "refused-change", window)
	})
	ok = ok && t.Run("Italian", func(t *testing.T) {
		b.run(t, "switch language", choose("#language", "it"), waitText(`label[for="f-name"]`, "Nome"))
		for selector, want := range map[string]string{
			`label[for="f-description"]`:                "Descrizione",
			`label[for="f-node"]`:                       "Nodi attivi", // the seed's words
			`#nav a[data-route="workspace"]`:            "Spazio di lavoro",
			`tr[data-path="base.firstName"] .hub-label`: "Nome",
			"#provider-title":                           "Opzioni del Provider",
			"#show-fields":                              "Mostra i campi da associare",
			"#refused .requirements":                    "la source deve essere disabilitata",
			"#subs-title":                               "Sincronizzazione delle sottoscrizioni",
			`label[for$="-webform"]`:                    "Codice Webform",
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
		// The API's own messages come in Italian too.
		name := value(t, b, "read the name", chromedp.Value(chromedp.CSS("#f-name")))
		b.run(t, "save without a name",
			clearInput("#f-name"),
			click("#save"),
			waitText("#f-name-error", "è obbligatorio"))
		b.run(t, "give the name back", chromedp.SendKeys(chromedp.CSS("#f-name"), name))
		b.inspect(t, "the form in Italian", "")
		b.screenshot(t, "refused-change-it", window)
		b.run(t, "back to English", choose("#language", "en"), waitText(`label[for="f-name"]`, "Name"))
	})
	ok = ok && t.Run("a change made meanwhile is not overwritten", func(t *testing.T) {
		if status, body := stack.CallT(t, http.MethodPost, "/v1/sources/"+sourceID+"/disable", nil); status != http.StatusOK {
			t.Fatalf("disable through the API: %d %v", status, body["message"])
		}
		b.run(t, "save the stale form",
			click("#save"),
			waitText(".alert-error", "Someone changed this source"),
			click(".alert-error button"),
			chromedp.WaitVisible(chromedp.CSS(`#mapping-panel tr[data-path="base.contacts.email"] select`)))
		if got := value(t, b, "the reloaded node", chromedp.Value(chromedp.CSS("#f-node"))); got != italia {
			t.Errorf("after reloading the node is %q, want Italia (%s)", got, italia)
		}
		b.run(t, "back to the list", click(".breadcrumb a"), chromedp.WaitVisible(chromedp.CSS("#new-source")))
	})
	t.Run("workspace settings", func(t *testing.T) {
		if !ok {
			t.Skip("an earlier step failed")
		}
		b.run(t, "open the workspace settings",
			click(`#nav a[data-route="workspace"]`),
			waitText("main .hint code", devstack.DemoWorkspace))
		if got := value(t, b, "read the base URL", chromedp.Value(chromedp.CSS("#w-baseUrl"))); got != stack.ContacthubURL+"/hub/v1" {
			t.Errorf("base URL %q, want %s/hub/v1", got, stack.ContacthubURL)
		}
		placeholder := value(t, b, "read the token placeholder", chromedp.Evaluate[string](`document.getElementById('w-token').placeholder`))
		if placeholder == "" || strings.Contains(placeholder, devstack.DemoHubToken) {
			t.Errorf("the token field shows %q; want the masked token", placeholder)
		}
		b.run(t, "save without retyping the token",
			click(`main form button[type="submit"]`),
			waitText(".alert-success", "saved"))
		checkLabels(t, b, "the workspace settings")
		b.inspect(t, "the workspace settings", "workspace")
		// Without a working Contacthub connection the node is typed as an
		// id, and the form says why.
		b.run(t, "point the workspace at no Contacthub",
			clearInput("#w-baseUrl"),
			chromedp.SendKeys(chromedp.CSS("#w-baseUrl"), "http://127.0.0.1:9/hub/v1"),
			// A new address needs the token again: the stored one only goes
			// where it was set.
			chromedp.SendKeys(chromedp.CSS("#w-token"), devstack.DemoHubToken),
			click(`main form button[type="submit"]`),
			waitText(".alert-success", "saved"))
		b.run(t, "a new source without the node list",
			chromedp.Navigate(stack.APIURL+"/#/sources/new"),
			chromedp.WaitVisible(chromedp.CSS("#f-node-unlisted")),
			chromedp.WaitVisible(chromedp.CSS(`input#f-node`)))
		checkLabels(t, b, "the form without the node list")
		b.inspect(t, "the form without the node list", "")
	})
	t.Run("links and sign out", func(t *testing.T) {
		if !ok {
			t.Skip("an earlier step failed")
		}
		b.run(t, "an unknown address",
			chromedp.Navigate(stack.APIURL+"/#/nowhere"),
			waitText("main h1", "Page not found"))
		b.inspect(t, "page not found", "")
		b.run(t, "back to the sources",
			click("main a"),
			chromedp.WaitVisible(chromedp.CSS("#new-source")))
		b.run(t, "the skip link moves to the content",
			chromedp.Focus(chromedp.CSS(".skip-link")),
			click(".skip-link"),
			waitHash("#main"))
		b.run(t, "the brand leads to the sources",
			click(".brand"),
			chromedp.WaitVisible(chromedp.CSS("#new-source")))
		b.run(t, "sign out",
			click("#sign-out"),
			chromedp.WaitVisible(chromedp.CSS("#sign-in")))
		if role := value(t, b, "read the role", chromedp.Evaluate[string](`document.body.dataset.role`)); role != "" {
			t.Errorf("signed out, the page still has role %q", role)
		}
		checkNothingStored(t, b)
	})
	t.Run("a viewer reads and changes nothing", func(t *testing.T) {
		if !ok {
			t.Skip("an earlier step failed")
		}
		signIn(t, b, "viewer")
		b.run(t, "signed in as a viewer",
			chromedp.WaitVisible(chromedp.CSS("#viewer-note")),
			chromedp.WaitVisible(chromedp.CSS("#sources tbody a")))
		b.inspect(t, "the list as a viewer", "")
		if n := value(t, b, "count the create links", chromedp.Evaluate[int](`document.querySelectorAll('#new-source, a[href="#/sources/new"]').length`)); n != 0 {
			t.Errorf("a viewer is offered %d ways to create a source", n)
		}
		b.run(t, "open a source",
			click("#sources tbody a"),
			chromedp.WaitVisible(chromedp.CSS("#status-panel")),
			chromedp.WaitVisible(chromedp.CSS("#source-history")))
		absent := `['#enabled-switch', '#edit-source', '#delete-source', '#operations-panel', '#resync', '#webhook-secret', 'button.retry'].filter((s) => document.querySelector(s))`
		if offered := value(t, b, "look for the controls that change", chromedp.Evaluate[[]string](absent)); len(offered) > 0 {
			t.Errorf("a viewer is offered %v", offered)
		}
		b.inspect(t, "a source as a viewer", "")
		b.run(t, "the source's history",
			click("#source-history"),
			chromedp.WaitVisible(chromedp.CSS(`#history tr[data-action="source.create"]`)))
		if who := b.text(t, `#history tr[data-action="source.create"] td:nth-child(2)`); who != "admin@demo.example" {
			t.Errorf("the source was created by %q, want admin@demo.example", who)
		}
		b.run(t, "the workspace's history",
			click(`#nav a[data-route="history"]`),
			chromedp.WaitVisible(chromedp.CSS(`#history tr[data-action="source.delete"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#history tr[data-action="workspace.connection"]`)))
		if got := b.text(t, "#history"); strings.Contains(got, devstack.DemoSendAPIKey) || strings.Contains(got, devstack.DemoSendUserKey) || !strings.Contains(got, "changed") {
			t.Errorf("the history shows secrets, or not that they changed:\n%s", got)
		}
		b.inspect(t, "the history", "")
		b.run(t, "the workspace settings are read only",
			click(`#nav a[data-route="workspace"]`),
			chromedp.WaitVisible(chromedp.CSS("#viewer-note")),
			waitText("main .hint code", devstack.DemoWorkspace))
		if n := value(t, b, "count the save buttons", chromedp.Evaluate[int](`document.querySelectorAll('main form button[type="submit"]').length + document.querySelectorAll('main input:not([readonly])').length`)); n != 0 {
			t.Errorf("a viewer can edit the workspace settings (%d controls)", n)
		}
		b.run(t, "a form's address shows the list",
			chromedp.Navigate(stack.APIURL+"/#/sources/new"),
			chromedp.WaitVisible(chromedp.CSS("#viewer-note")))
	})
}

// TestConsoleRenewsTheSession: with tokens that last 5 minutes and 12
// seconds, the console renews them with the refresh token 5 minutes before
// they end, by itself, and stays signed in.
func TestConsoleRenewsTheSession(t *testing.T) {
	b := newBrowser(t)
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 1, ScheduleEvery: time.Hour, TokenLifetime: 5*time.Minute + 12*time.Second})
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() { stack.Close() })
	b.run(t, "open the console", chromedp.Navigate(stack.APIURL+"/"))
	signIn(t, b, "viewer")
	deadline := time.Now().Add(40 * time.Second)
	for stack.Issuer.Refreshes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the console did not renew its tokens")
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.run(t, "still signed in after the renewal",
		click(`#nav a[data-route="history"]`),
		chromedp.WaitVisible(chromedp.CSS(`#history tr[data-action="workspace.connection"], main p.empty`)))
	checkNothingStored(t, b)
}

// signIn signs in through the local identity provider as a person would:
// the console's button, the provider's page (authorization code with
// PKCE), and back.
func signIn(t *testing.T, b *browser, user string) {
	t.Helper()
	b.run(t, "sign in as "+user,
		chromedp.WaitVisible(chromedp.CSS("#sign-in")),
		click("#sign-in"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`button[data-user=%q]`, user))),
		click(fmt.Sprintf(`button[data-user=%q]`, user)),
		chromedp.WaitVisible(chromedp.CSS("#sign-out")))
	if search := value(t, b, "read the address", chromedp.Evaluate[string](`location.search`)); search != "" {
		t.Errorf("the address keeps %q after signing in", search)
	}
}

// checkNothingStored: tokens live in the page's memory only.
func checkNothingStored(t *testing.T, b *browser) {
	t.Helper()
	stored := value(t, b, "read the storage", chromedp.Evaluate[string](
		`JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])`))
	if strings.Contains(stored, "eyJ") || strings.Contains(stored, "hubsend.token") || strings.Contains(stored, "hubsend.signin") || strings.Contains(stored, "refresh") {
		t.Errorf("the browser's storage holds %s", stored)
	}
}

// acceptConfirm answers the page's next confirmation dialogs with yes,
// keeping what they asked in window.confirmed.
func acceptConfirm() chromedp.Action[chromedp.Void] {
	return discard(chromedp.Evaluate[bool](`window.confirmed = [], window.confirm = (message) => (window.confirmed.push(message), true), true`))
}

// waitHash polls until the page address ends in want.
func waitHash(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			hash, err := chromedp.Evaluate[string](`location.hash`)(ctx, t)
			if err == nil && hash == want {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the address never became %q (last: %q): %w", want, hash, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// inspect runs axe-core on the page, failing the test for any violation,
// then checks at a phone's width (390 px) that nothing scrolls sideways,
// saving a phone screenshot named shot when it is not empty.
func (b *browser) inspect(t *testing.T, where, shot string) {
	t.Helper()
	b.axe(t, where)
	b.run(t, "narrow the window to a phone's", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1)))
	defer b.run(t, "widen the window again", chromedp.EmulateViewport(1280, 900, chromedp.EmulateScale(1)))
	wide := value(t, b, "find what scrolls sideways on "+where, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const page = document.scrollingElement;
		if (page.scrollWidth > page.clientWidth) out.push('the page is ' + page.scrollWidth + ' px wide');
		for (const el of document.querySelectorAll('body *')) {
			const overflow = getComputedStyle(el).overflowX;
			if ((overflow === 'auto' || overflow === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
				out.push((el.id ? '#' + el.id : el.tagName + '.' + el.className) + ' scrolls: ' + el.scrollWidth + ' > ' + el.clientWidth);
			}
		}
		return out;
	})()`))
	if len(wide) > 0 {
		t.Errorf("at 390 px on %s: %v", where, wide)
	}
	b.axe(t, where+" at 390 px")
	if shot != "" {
		b.screenshot(t, shot+"-phone", wholePage)
	}
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core (node_modules/axe-core, from npm ci) on the page.
func (b *browser) axe(t *testing.T, where string) {
	t.Helper()
	loaded := value(t, b, "is axe-core loaded", chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if !loaded {
		script, err := os.ReadFile(filepath.Join(moduleRoot(t), "node_modules", "axe-core", "axe.min.js"))
		if err != nil {
			t.Fatalf("axe-core is not installed (npm ci): %v", err)
		}
		b.run(t, "load axe-core", discard(chromedp.Evaluate[bool](string(script)+"\n;true")))
	}
	violations := value(t, b, "run axe-core on "+where, chromedp.Evaluate[[]axeViolation](`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
		id: v.id, impact: v.impact || '', help: v.help,
		nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\s+/g, ' ')),
	})))`, chromedp.EvalAwaitPromise))
	for _, v := range violations {
		t.Errorf("axe on %s: %s (%s) %s\n\t%s", where, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
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

// customerEmail is the e-mail of a customer of the node.
func customerEmail(t *testing.T, stack *devstack.Stack, node string) string {
	t.Helper()
	for _, c := range stack.Hub.Customers(devstack.DemoHubWorkspace) {
		base, _ := c["base"].(map[string]any)
		contacts, _ := base["contacts"].(map[string]any)
		if email, ok := contacts["email"].(string); ok && email != "" && c["nodeId"] == node {
			return email
		}
	}
	t.Fatal("the demo has no customer with an e-mail in the node")
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

// italianCustomers lists the ids of the demo's customers in the node.
func italianCustomers(t *testing.T, stack *devstack.Stack, node string) []string {
	t.Helper()
	var ids []string
	for _, c := range stack.Hub.Customers(devstack.DemoHubWorkspace) {
		if id, ok := c["id"].(string); ok && c["nodeId"] == node {
			ids = append(ids, id)
		}
	}
	if len(ids) < 2 {
		t.Fatalf("the demo has %d customers in the node, want at least 2", len(ids))
	}
	return ids
}

// discard runs an action for its effect, dropping its value.
func discard[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
