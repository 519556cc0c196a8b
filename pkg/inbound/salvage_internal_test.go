package inbound

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSalvagePosition(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"after the events", `{"events":[{"eventId":"a",}],"position":"X","hasMore":true}`, "X"},
		{"last member", `{"events":[{"eventId":"a",}],"position":"X"}`, "X"},
		{"before the events", `{"position":"X","events":[{"a":1,}]}`, "X"},
		{"between members", `{"hasMore":true,"position":"X","events":[{,}]}`, "X"},
		{"spaces", "{ \"events\" : [ , ] ,\n \"position\" : \"X\" \n}\n", "X"},
		{"an event's own, then the page's", `{"events":[{"position":"Y","x":,}],"position":"X"}`, "X"},
		{"in a string left open", `{"events":[{"x":"abc}],"position":"X","hasMore":false}`, "X"},
		{"quoted in a string", `{"events":[{"note":"\"position\":\"Z\""},],"position":"X"}`, "X"},
		{"an event's own only", `{"events":[{"eventId":"a","position":"Y",}]}`, ""},
		// Cut short after an event: its own position passes for the page's, which
		// for a page read with one event is the same place.
		{"an event's own, in a page cut short", `{"hasMore":true,"events":[{"eventId":"a","position":"Y"}`, "Y"},
		// An event broken by a quote its text holds unescaped: what follows the quote
		// passes for members of the page, as the page's own position does.
		{"an event's text passing for the page's", `{"events":[{"eventId":"a","note":"x"}],"position":"P"}],"position":"X","hasMore":true}`, ""},
		{"an event's text passing for the page's, before the events", `{"position":"X","events":[{"note":"x"}],"position":"P","y":"z"}]}`, ""},
		{"the page's twice", `{"position":"X","events":[,],"position":"X"}`, "X"},
		{"not a string", `{"events":[,],"position":5}`, ""},
		{"empty", `{"events":[,],"position":""}`, ""},
		{"no colon", `{"events":[,],"position" "X"}`, ""},
		{"not JSON", `<html><body>Bad gateway</body></html>`, ""},
		{"nothing", ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := salvagePosition([]byte(tc.body))
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want != "", ok)
		})
	}
}
