package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// undecodableReads is how often a page of one event that does not decode is read before
// it is poisoned: a body damaged on its way decodes when read again.
const undecodableReads = 3

// errNoPosition marks a page that does not decode, read alone undecodableReads times,
// that names no position the partition can go on from (see salvagePosition).
var errNoPosition = errors.New("it names no position past it that can be told apart from its events, so the partition cannot go on: move the stream's position past it (POST /streams/{id}/position)")

// errReadFewer marks a page that does not decode, read with more than one event: the next
// read asks for half as many.
var errReadFewer = errors.New("reading fewer events to find the one that breaks the page")

// undecodable decides what becomes of a page read after pos that does not decode (err;
// body is what Dsco answered). A page is not split where it breaks: its events may not be
// told apart. It is read again with half the limit (errReadFewer) until it holds one
// event, so that the events before the one that breaks it are read, in pages that decode,
// and published as they are; then undecodableReads times alone, naming the same position
// (a body naming another is another page's, read from a stored position moved past the
// page before: see fetch). After that, undecodable returns a page of one event that
// cannot be mapped, the whole body, to be poisoned, whose position is the one the body
// names (see salvagePosition), where the partition goes on. It returns nil while the
// page is to be read again, and for good when the body names no position past pos
// (errNoPosition): the partition cannot go on without one, until the stream's position is
// moved past the page (see fetch).
func (w *worker) undecodable(pos string, body []byte, err error) (*Page, error) {
	if w.limit > 1 {
		w.limit = max(1, w.limit/2)
		return nil, fmt.Errorf("%w (%d): %w", errReadFewer, w.limit, err)
	}
	next, ok := salvagePosition(body)
	if pos != w.badPos || next != w.badNext {
		// Another page: a page read from the stream's stored position (fromStored)
		// once it was moved past the one held there is read after the same pos.
		w.badPos, w.badNext, w.badReads = pos, next, 0
	}
	w.badReads++
	if w.badReads < undecodableReads {
		return nil, err
	}
	if !ok || next == pos {
		return nil, fmt.Errorf("%w; %w", err, errNoPosition)
	}
	w.badPos, w.badNext, w.badReads = "", "", 0
	w.salvaged.Events = append(w.salvaged.Events[:0], Event{Raw: body,
		Err: fmt.Errorf("the page read after %s holding at most this event does not decode, %d times: %w", w.readAfter(pos), undecodableReads, err)})
	w.salvaged.Position, w.salvaged.HasMore = next, true
	return &w.salvaged, nil
}

// salvagePosition returns the position member of a page that is not valid JSON, where
// it can be told apart from the events: a "position" member whose value is a string and
// which stands at the page's top level, as the members before it (from the page's
// opening brace) or the members after it (to its closing brace, which ends the body) are
// valid JSON. A "position" inside the events fails both tests: the events' array is open
// before it and is closed after it; but for a body cut short right after an event, the
// event's own position passes, which for a page read with one event is the same place.
// Every member that passes must name the same position, or there is none: an event
// broken by a quote its text holds unescaped (`x"}],"position":"P`) makes what follows
// the quote pass for members of the page, and the partition would go on from a position
// the event's data names, skipping events or reading them again, where the page's own
// passes too.
func salvagePosition(body []byte) (string, bool) {
	key := []byte(`"position"`)
	found := ""
	for off := 0; ; {
		i := bytes.Index(body[off:], key)
		if i < 0 {
			return found, found != ""
		}
		i += off
		off = i + len(key)
		rest := bytes.TrimLeft(body[off:], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		dec := json.NewDecoder(bytes.NewReader(rest))
		var pos string
		if dec.Decode(&pos) != nil || pos == "" {
			continue
		}
		if !membersBefore(body[:i]) && !membersAfter(rest[dec.InputOffset():]) {
			continue
		}
		if found != "" && found != pos {
			return "", false
		}
		found = pos
	}
}

// membersBefore reports whether b is a JSON object's opening brace and whole members
// before another member: "{", or "{" members ",".
func membersBefore(b []byte) bool {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 1 && b[0] == '{':
		return true
	case len(b) > 1 && b[0] == '{' && b[len(b)-1] == ',':
		return json.Valid(append(bytes.Clone(b[:len(b)-1]), '}'))
	}
	return false
}

// membersAfter reports whether b is the rest of a JSON object after a member, to the
// end: "}", or "," members "}".
func membersAfter(b []byte) bool {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 1 && b[0] == '}':
		return true
	case len(b) > 1 && b[0] == ',':
		return json.Valid(append([]byte{'{'}, b[1:]...))
	}
	return false
}
