package dsco

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scanAll collects the members that members.next finds.
func scanAll(data []byte) (map[string]string, error) {
	out := map[string]string{}
	m := members{data: data}
	for {
		k, v, ok, err := m.next()
		if err != nil || !ok {
			return out, err
		}
		out[string(k)] = string(v)
	}
}

func TestMembers(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", ` { } `, map[string]string{}},
		{"scalars", `{"a":1,"b":-2.5e3,"c":true,"d":null,"e":"x"}`, map[string]string{"a": "1", "b": "-2.5e3", "c": "true", "d": "null", "e": `"x"`}},
		{"nested with tricky strings", `{"a":{"b":["}",{"c":"]\"{"}]},"z":[]}`, map[string]string{"a": `{"b":["}",{"c":"]\"{"}]}`, "z": "[]"}},
		{"whitespace", "{\n\t\"a\" :\r\n [ 1 , 2 ] ,\"b\":\"\"\n}", map[string]string{"a": "[ 1 , 2 ]", "b": `""`}},
		{"escaped key", `{"a\u0062":1,"q\"":2}`, map[string]string{"ab": "1", `q"`: "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanAll([]byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMembersMalformed(t *testing.T) {
	for _, in := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1 "b":2}`, `{"a":"x}`, `{"a":{"b":1}`, `{a:1}`, `{"a":1,}`} {
		t.Run(in, func(t *testing.T) {
			_, err := scanAll([]byte(in))
			require.Error(t, err)
		})
	}
}

// FuzzMembers checks the scan against encoding/json on any valid object.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":["}",{"c":"]\"{"}]},"z":[]}`, `{"a\u0062":"\\"}`, "{\"\x80\":0}", `{"é":"ü"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want map[string]json.RawMessage
		if json.Unmarshal(data, &want) != nil || want == nil {
			return
		}
		got, err := scanAll(data)
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for k, v := range want {
			assert.JSONEq(t, string(v), got[k])
		}
	})
}
