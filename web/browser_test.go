package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium or Chrome binary. Outside CI the
// browser tests skip without one; in CI (CI=true) they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: the page tests need it in CI (.ci/run installs Debian's chromium)")
	}
	t.Skip("no chromium on PATH: skipping the page tests (apt-get install chromium to run them)")
	return ""
}

// browser is one headless Chromium with a recorder of what its pages send
// and log.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []*network.Request
	console  []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request)
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				b.console = append(b.console, string(a.Value)+a.Description)
			}
		case *runtime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+ev.ExceptionDetails.Text+" "+fmt.Sprint(ev.ExceptionDetails.Exception))
		case *log.EventEntryAdded:
			b.console = append(b.console, string(ev.Entry.Source)+": "+ev.Entry.Text)
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

func (b *browser) reset() {
	b.mu.Lock()
	b.requests, b.console = nil, nil
	b.mu.Unlock()
}

func (b *browser) sent() []*network.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*network.Request(nil), b.requests...)
}

func (b *browser) logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// open loads url at a window size and waits until the page has decided:
// data-verification is ok or failed. It returns that state.
func (b *browser) open(t *testing.T, url string, width, height int64) string {
	t.Helper()
	err := chromedp.Do(b.ctx,
		chromedp.EmulateViewport(width, height),
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(url),
	)
	if err != nil {
		t.Fatalf("loading %s: %v\nconsole: %q", url, err, b.logs())
	}
	return b.decided(t)
}

// decided waits until the page's data-verification is ok or failed.
func (b *browser) decided(t *testing.T) string {
	t.Helper()
	var state string
	var err error
	for range 5 {
		// A navigation that swaps the renderer process can destroy the
		// context a poll started in; poll again in the new one.
		state, err = chromedp.Run(b.ctx, chromedp.Poll[string](decidedJS, chromedp.WithPollingTimeout(60*time.Second)))
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("waiting for the verification: %v\nconsole: %q", err, b.logs())
	}
	return state
}

const decidedJS = `(() => { const s = document.querySelector('main').dataset.verification; return s === 'pending' ? false : s; })()`

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, b, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ''`, sel))
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// screenshot saves the whole page under testdata/screenshots (ignored by
// git) and checks that nothing is wider than the window.
func (b *browser) screenshot(t *testing.T, name string, width int64) {
	t.Helper()
	if eval[bool](t, b, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		w := eval[int64](t, b, `document.documentElement.scrollWidth`)
		t.Errorf("%s: the page is %d px wide in a %d px window", name, w, width)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	// The first screen, as a phone shows it before any scrolling.
	top, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-top.png"), top, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noErrors fails on any Content-Security-Policy report or script
// error in the console.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	for _, l := range b.logs() {
		if strings.Contains(l, "Content Security Policy") || strings.HasPrefix(l, "exception:") {
			t.Errorf("console: %s", l)
		}
	}
}

var sizes = []struct {
	name          string
	width, height int64
}{{"phone", 375, 812}, {"desktop", 1280, 900}, {"narrow", 320, 640}}

// accessible checks what a screen reader depends on: every control, link,
// image and heading has an accessible name (from the accessibility tree
// Chromium builds), the page has one h1, heading levels do not skip, and
// the document has a language.
func (b *browser) accessible(t *testing.T, page string) {
	t.Helper()
	tree, err := chromedp.Call(b.ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("%s: accessibility tree: %v", page, err)
	}
	named := map[string]bool{"button": true, "link": true, "textbox": true, "heading": true, "image": true, "img": true, "checkbox": true, "combobox": true}
	checked := 0
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		role := strings.Trim(string(n.Role.Value), `"`)
		if !named[role] {
			continue
		}
		checked++
		if n.Name == nil || strings.Trim(string(n.Name.Value), `" `) == "" {
			t.Errorf("%s: a %s without an accessible name", page, role)
		}
	}
	if checked == 0 {
		t.Errorf("%s: the accessibility tree has no controls or headings", page)
	}
	levels := eval[[]int](t, b, `[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].filter(h => h.offsetParent !== null).map(h => +h.tagName[1])`)
	if len(levels) == 0 || levels[0] != 1 {
		t.Errorf("%s: headings %v do not start with one h1", page, levels)
	}
	for i := 1; i < len(levels); i++ {
		if levels[i] == 1 || levels[i] > levels[i-1]+1 {
			t.Errorf("%s: heading levels %v skip or repeat h1", page, levels)
			break
		}
	}
	if l := eval[string](t, b, `document.documentElement.lang`); l != "en" {
		t.Errorf("%s: lang=%q", page, l)
	}
}
