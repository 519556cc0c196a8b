package ops_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/dscokafka/connector/pkg/ops"
)

// chromium returns the path of a Chromium (or Chrome) binary: $CHROMIUM if
// set, else the first of the usual names on PATH. Without one the test
// skips, or fails when REQUIRE_CHROMIUM is set (CI sets it, after installing
// Debian's chromium with scripts/ci-deps.sh).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no Chromium on PATH (looked for chromium, chromium-browser, google-chrome, chrome; " +
		"or set CHROMIUM): the status page test needs a headless browser; install it with " +
		"scripts/ci-deps.sh (apt-get install chromium)"
	if os.Getenv("REQUIRE_CHROMIUM") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// TestStatusPageInChromium loads the status page in headless Chromium, lets
// its script fetch /status.json, and checks what a person sees: the totals,
// one row per stream partition and per command topic with their numbers, and
// the readiness summary. Set STATUS_PAGE_SCREENSHOT=file.png to also save a
// screenshot.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	started := time.Now().Add(-(2*time.Hour + 5*time.Minute))
	s := start(t, ops.Config{
		Status: func() ops.Status { return testStatus(started, time.Now()) },
		Checks: []ops.Check{
			{Name: "kafka", Func: func(context.Context) error { return nil }},
			{Name: "dsco", Func: func(context.Context) error { return errors.New("dsco: 503 Service Unavailable") }},
		},
	})

	dom := runChromium(t, bin, "--dump-dom", s.URL())
	doc, err := html.Parse(bytes.NewReader(dom))
	require.NoError(t, err)

	assert.Equal(t, "Not ready: dsco", text(byID(t, doc, "ready")))
	assert.Equal(t, "supplier", text(byID(t, doc, "role")))
	assert.Equal(t, "v1.2.3", text(byID(t, doc, "version")))
	assert.Equal(t, "2h 05m", text(byID(t, doc, "uptime")))
	assert.NotContains(t, attr(byID(t, doc, "conn"), "class"), "show", "the connection-lost notice is hidden")

	for id, want := range map[string]string{
		"t-eventsIn": "12,345", "t-commandsOut": "678", "t-accepted": "670",
		"t-rejected": "5", "t-failed": "1", "t-poisoned": "3",
	} {
		assert.Equal(t, want, text(byID(t, doc, id)), id)
	}

	// The ages are the server's time minus the last event's: 4s and 3m, plus
	// however long the server took between the two readings of its clock.
	streams := rows(t, doc, "streams")
	require.Len(t, streams, 2)
	assert.Regexp(t, `^4\.\ds$`, streams[0][5])
	assert.Regexp(t, `^3m 0\ds$`, streams[1][5])
	streams[0][5], streams[1][5] = "<age>", "<age>"
	assert.Equal(t, [][]string{
		{"order", "stream-order-1", "0", "dsco.order.v1", "pos-0-000123", "<age>", "7", "1,234,567"},
		{"order", "stream-order-1", "1", "dsco.order.v1", "pos-1-000456", "<age>", "n/a", "89"},
	}, streams)
	assert.Equal(t, "Lag n/a: Dsco streams do not report lag.", text(byID(t, doc, "streams-note")), "why the lag is not known")
	assert.Equal(t, [][]string{
		{"ship", "dsco.cmd.ship.v1", "42", "600", "4", "1", "2"},
		{"invoice", "dsco.cmd.invoice.v1", "0", "70", "1", "0", "1"},
	}, rows(t, doc, "commands"))

	checks := text(byID(t, doc, "checks"))
	assert.Contains(t, checks, "kafka")
	assert.Contains(t, checks, "dsco: 503 Service Unavailable")

	if file := os.Getenv("STATUS_PAGE_SCREENSHOT"); file != "" {
		runChromium(t, bin, "--screenshot="+file, "--window-size=1280,860", s.URL())
		t.Logf("screenshot in %s", file)
	}
}

// TestStatusPageEmpty shows the page of a process with neither flow running.
func TestStatusPageEmpty(t *testing.T) {
	bin := chromium(t)
	s := start(t, ops.Config{})
	doc, err := html.Parse(bytes.NewReader(runChromium(t, bin, "--dump-dom", s.URL())))
	require.NoError(t, err)
	assert.Equal(t, "Ready", text(byID(t, doc, "ready")))
	assert.Equal(t, [][]string{{"no stream partitions (inbound not running)"}}, rows(t, doc, "streams"))
	assert.Empty(t, text(byID(t, doc, "streams-note")))
	assert.Equal(t, [][]string{{"no command topics (outbound not running)"}}, rows(t, doc, "commands"))
	assert.Equal(t, "0", text(byID(t, doc, "t-eventsIn")))
}

// runChromium runs headless Chromium on url with a profile of its own and
// returns its standard output. The virtual time budget lets the page's
// script fetch and render before the DOM is dumped.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000",
	}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return out
}

func byID(t *testing.T, n *html.Node, id string) *html.Node {
	t.Helper()
	if found := find(n, func(n *html.Node) bool { return attr(n, "id") == id }); found != nil {
		return found
	}
	t.Fatalf("no element #%s in the page", id)
	return nil
}

// rows returns the text of each cell of each body row of table #id.
func rows(t *testing.T, doc *html.Node, id string) [][]string {
	t.Helper()
	tbody := find(byID(t, doc, id), func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "tbody" })
	require.NotNil(t, tbody)
	var out [][]string
	for tr := tbody.FirstChild; tr != nil; tr = tr.NextSibling {
		if tr.Type != html.ElementNode || tr.Data != "tr" {
			continue
		}
		var cells []string
		for td := tr.FirstChild; td != nil; td = td.NextSibling {
			if td.Type == html.ElementNode && td.Data == "td" {
				cells = append(cells, text(td))
			}
		}
		out = append(out, cells)
	}
	return out
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is the visible text of n: its text nodes joined, spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}
