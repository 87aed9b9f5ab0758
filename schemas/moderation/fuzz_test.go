package moderation

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSoften checks the properties every reader of a softened text relies
// on, under two rule sets (the realistic one and one of very short words,
// which makes neighbouring matches likely):
//   - valid UTF-8 in, valid UTF-8 out (invalid in, valid out);
//   - idempotent: Soften(Soften(x)) == Soften(x);
//   - no markup added: never more '<', '>' or '&' than the input had;
//   - never longer than a valid input;
//   - Effects never panics, never returns nil or duplicates.
//
// Seeds: testdata/fuzz/FuzzSoften. Run it with
//
//	go test ./schemas/moderation -run '^$' -fuzz FuzzSoften -fuzztime 20s
func FuzzSoften(f *testing.F) {
	for _, s := range []string{
		"", "fuck", "f.u.c.k", "ｆｕｃｋ", "f\u200buck", "a$$hole", "개새끼야", "씨.발", "Scunthorpe",
		"happy birthday congrats", "<b>shit</b>&amp;", "ab ab", "a b a b", "q*q", "x\u0301y\u0301z",
		"\xff\xfeshit", "ﬀ ß ǆ", "ab\u00adab", "씨발ab",
	} {
		f.Add(s)
	}
	real, err := New([]string{"damn", "son of a bitch"}, map[string]string{"congrats": "balloons", "happy birthday": "confetti"})
	if err != nil {
		f.Fatal(err)
	}
	tiny, err := New([]string{"ab", "q", "xyz", "a b c", "ss", "씨"}, map[string]string{"ab": "x", "a b": "y", "q": "z"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, r := range []*Rules{real, tiny} {
			out := r.Soften(in)
			if !utf8.ValidString(out) {
				t.Fatalf("Soften(%q) = %q: invalid UTF-8", in, out)
			}
			if again := r.Soften(out); again != out {
				t.Fatalf("not idempotent: Soften(%q) = %q, Soften of that = %q", in, out, again)
			}
			if utf8.ValidString(in) {
				for _, c := range "<>&" {
					if strings.Count(out, string(c)) > strings.Count(in, string(c)) {
						t.Fatalf("Soften(%q) = %q added %q", in, out, c)
					}
				}
				if len(out) > len(in) {
					t.Fatalf("Soften(%q) = %q grew", in, out)
				}
			}
			eff := r.Effects(in)
			if eff == nil {
				t.Fatalf("Effects(%q) = nil", in)
			}
			sorted := slices.Clone(eff)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != len(eff) {
				t.Fatalf("Effects(%q) = %q has duplicates", in, eff)
			}
		}
	})
}
