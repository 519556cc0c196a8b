package schemas

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// validUTF8 must agree with utf8.ValidString on every input: ASCII, runes
// on and across the 8-byte boundaries of its fast path, and invalid bytes
// anywhere.
func TestValidUTF8(t *testing.T) {
	cases := []string{
		"", "a", "abcdefg", "abcdefgh", "abcdefghi", strings.Repeat("x", 64),
		"é", "abcdefgé", "abcdefghé", "abcdeé", "日本語のテキスト", "\xff", "abcdefgh\xff", "abcdefg\xe6\x97",
		"abcdefg\xe6\x97\xa5", "\xed\xa0\x80 surrogate", "ok\xc0\xafoverlong", string(utf8.RuneError),
	}
	for _, s := range cases {
		if got, want := validUTF8(s), utf8.ValidString(s); got != want {
			t.Errorf("validUTF8(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzValidUTF8(f *testing.F) {
	f.Add("abcdefgh")
	f.Add("abcdefg\xe6\x97\xa5")
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validUTF8(s), utf8.ValidString(s); got != want {
			t.Fatalf("validUTF8(%q) = %v, want %v", s, got, want)
		}
	})
}
