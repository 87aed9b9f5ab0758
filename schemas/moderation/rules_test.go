package moderation

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

func testRules(t testing.TB) *Rules {
	t.Helper()
	r, err := New([]string{"damn", "son of a bitch", "Crap"}, map[string]string{
		"congrats":       "balloons",
		"happy birthday": "confetti",
		"Happy":          "smile",
		"생일 축하":          "confetti",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSoften(t *testing.T) {
	r := testRules(t)
	cases := []struct {
		name, in, want string
	}{
		// Plain and mixed case.
		{"plain", "fuck you", "f*** you"},
		{"upper", "FUCK", "F***"},
		{"mixed case", "ShIt happens", "S*** happens"},
		{"sentence end", "oh shit!", "oh s***!"},
		{"several", "shit, shit and bullshit", "s***, s*** and b*******"},
		{"configured word", "damn it", "d*** it"},
		{"configured word given in capitals", "what crap", "what c***"},
		{"configured phrase", "you son of a bitch", "you s*************"},
		{"phrase inner word alone", "bitch", "b****"},
		// Evasions.
		{"fullwidth", "ｆｕｃｋ", "ｆ***"},
		{"mathematical bold", "𝐟𝐮𝐜𝐤", "𝐟***"},
		{"circled", "ⓢⓗⓘⓣ", "ⓢ***"},
		{"zero-width space", "f\u200buck", "f***"},
		{"zero-width joiner and word joiner", "sh\u200di\u2060t", "s***"},
		{"soft hyphen", "bull\u00adshit", "b*******"},
		{"BOM inside", "fu\ufeffck", "f***"},
		{"accent", "fück", "f***"},
		{"combining accent", "fu\u0308ck", "f***"},
		{"combining grave, the first combining mark", "fu\u0300ck", "f***"},
		{"combining mark with no precomposed letter", "fuc\u0300k", "f***"},
		{"combining half mark above U+9FFF", "fu\ufe20ck", "f***"},
		{"soft hyphen carrying an accent", "bull\u00ad\u0301shit", "b********"},
		{"accent from Latin Extended Additional", "shịt", "s***"},
		{"leet digits", "sh1t", "s***"},
		{"leet symbols", "a$$hole", "a******"},
		{"leet at", "@sshole", "@******"},
		{"leet o", "b0ll0cks", "b*******"},
		{"cyrillic lookalike", "fuсk", "f***"},
		{"cyrillic capital lookalike", "FUСK", "F***"},
		{"greek lookalike", "diсκ", "d***"},
		{"dots", "f.u.c.k", "f******"},
		{"spaces", "f u c k you", "f****** you"},
		{"dashes", "s-h-i-t", "s******"},
		{"underscores and stars", "f_u*c_k", "f******"},
		{"up to three separators", "f . u . c . k", "f" + strings.Repeat("*", 12)},
		{"four separators are too many", "f .. u .. c .. k", "f .. u .. c .. k"},
		{"spelled leet", "$ h 1 t", "$******"},
		{"Korean", "개새끼", "개**"},
		{"Korean with particle", "개새끼야 꺼져", "개**야 꺼져"},
		{"Korean spelled with dots", "씨.발", "씨**"},
		{"English word with Korean particle", "fuck요", "f***요"},
		{"English word with Japanese", "shitです", "s***です"},
		{"English word before Han", "fuck漢字", "f***漢字"},
		{"after Korean", "씨발ass", "씨*a**"},
		// Not profanity.
		{"Scunthorpe", "Scunthorpe", "Scunthorpe"},
		{"classic", "a classic", "a classic"},
		{"assess", "assess the damage", "assess the damage"},
		{"passion", "passion", "passion"},
		{"cocktail", "shitake? no, shiitake", "shitake? no, shiitake"},
		{"dickens", "Dickens", "Dickens"},
		{"number that reads as a word", "455 points", "455 points"},
		{"leet inside a word", "c1ass", "c1ass"},
		{"digits glued", "shit2", "shit2"},
		{"spelled but continues", "a s s e s s", "a s s e s s"},
		{"spelled inside letters", "xf.u.c.k", "xf.u.c.k"},
		{"Korean with a space is ordinary", "민수 씨 발 아파?", "민수 씨 발 아파?"},
		{"Korean starting point", "시발점", "시발점"},
		{"listed word without its first letter", "uck you", "uck you"},
		{"first word of a listed phrase alone", "my son", "my son"},
		{"empty", "", ""},
		// Untouched text.
		{"emoji", "👍🏽 great 🎉 👨‍👩‍👧", "👍🏽 great 🎉 👨‍👩‍👧"},
		{"emoji around a word", "🔥shit🔥", "🔥s***🔥"},
		{"RTL", "שלום עולם مرحبا", "שלום עולם مرحبا"},
		{"markup is not ours to touch", "<b>shit</b> & co", "<b>s***</b> & co"},
		{"newlines kept", "line1\nshit\r\nline3", "line1\ns***\r\nline3"},
		{"zero width outside a word kept", "a\u200bb", "a\u200bb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := r.Soften(c.in)
			if got != c.want {
				t.Errorf("Soften(%q) = %q, want %q", c.in, got, c.want)
			}
			if again := r.Soften(got); again != got {
				t.Errorf("not idempotent: Soften(%q) = %q", got, again)
			}
		})
	}
}

func TestSoftenInvalidUTF8(t *testing.T) {
	r := testRules(t)
	got := r.Soften("shit\xff\xfe ok")
	if !utf8.ValidString(got) || got != "s***\uFFFD ok" {
		t.Errorf("Soften = %q, want valid UTF-8 %q", got, "s***\uFFFD ok")
	}
}

// TestSoftenNoCopy: the common case (nothing to soften) costs no copy.
func TestSoftenNoCopy(t *testing.T) {
	r := testRules(t)
	in := strings.Repeat("a perfectly nice message 😊 ", 4)
	if out := r.Soften(in); unsafe.StringData(out) != unsafe.StringData(in) { //nolint:gosec // G103: comparing pointers is how the test sees that nothing was copied
		t.Error("Soften copied a text it did not change")
	}
}

func TestEffects(t *testing.T) {
	r := testRules(t)
	cases := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"nothing here", []string{}},
		{"Congrats!!", []string{"balloons"}},
		{"CONGRATS", []string{"balloons"}},
		{"c0ngrats", []string{"balloons"}},
		{"ｃｏｎｇｒａｔｓ", []string{"balloons"}},
		{"con\u200bgrats", []string{"balloons"}},
		{"congratulations", []string{}},
		{"happy birthday!", []string{"confetti"}},
		{"Happy  Birthday", []string{"confetti"}},
		{"happy-birthday", []string{"confetti"}},
		{"#happybirthday", []string{"confetti"}},
		{"happy birthday and congrats, happy birthday", []string{"confetti", "balloons"}},
		{"congrats and happy birthday", []string{"balloons", "confetti"}},
		{"happy happy", []string{"smile"}},
		{"happy days, happy birthday", []string{"smile", "confetti"}},
		{"unhappy", []string{}},
		{"생일 축하해!", []string{"confetti"}},
		{"생일축하", []string{"confetti"}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got := r.Effects(c.in)
			if got == nil {
				t.Fatal("Effects returned nil")
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("Effects(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	none, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := none.Effects("congrats"); got == nil || len(got) != 0 {
		t.Errorf("no effects configured: %#v", got)
	}
}

// manyWords returns n distinct words, and manyTriggers n distinct triggers
// of one effect: configurations at the size limit.
func manyWords(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "w" + strconv.Itoa(i)
	}
	return out
}

func manyTriggers(n int) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out["t"+strconv.Itoa(i)] = "x"
	}
	return out
}

func TestNewRejects(t *testing.T) {
	type rejectCase struct {
		name      string
		profanity []string
		effects   map[string]string
		is        error
	}
	cases := []rejectCase{
		{"word without letters", []string{"!!!"}, nil, ErrBadWord},
		{"word of digits only", []string{"455"}, nil, ErrBadWord},
		{"empty word", []string{""}, nil, ErrBadWord},
		{"invalid UTF-8 word", []string{"\xff"}, nil, ErrBadWord},
		{"too long word", []string{strings.Repeat("a", maxTermRunes+1)}, nil, ErrBadWord},
		{"effect name with space", nil, map[string]string{"yay": "big balloons"}, ErrBadEffect},
		{"effect name with markup", nil, map[string]string{"yay": "<script>"}, ErrBadEffect},
		{"empty effect name", nil, map[string]string{"yay": ""}, ErrBadEffect},
		{"effect name too long", nil, map[string]string{"yay": strings.Repeat("a", 33)}, ErrBadEffect},
		{"trigger without letters", nil, map[string]string{"!!": "balloons"}, ErrBadEffect},
		{"conflicting triggers", nil, map[string]string{"Congrats": "balloons", "congrats": "confetti"}, ErrBadEffect},
		{"more words than maxTerms", manyWords(maxTerms + 1), nil, ErrBadWord},
		{"more words and triggers together than maxTerms", manyWords(maxTerms/2 + 1), manyTriggers(maxTerms / 2), ErrBadWord},
	}
	// The ASCII characters right next to the allowed ranges of effect names.
	for _, c := range "/:@[`{" {
		cases = append(cases, rejectCase{"effect name with " + string(c), nil, map[string]string{"yay": "a" + string(c)}, ErrBadEffect})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.profanity, c.effects); !errors.Is(err, c.is) {
				t.Errorf("New = %v, want %v", err, c.is)
			}
		})
	}
	if _, err := New([]string{"FUCK", "fuck", "Fück"}, map[string]string{"Yay": "party", "yay": "party"}); err != nil {
		t.Errorf("duplicates after normalisation with the same meaning: %v", err)
	}
}

// TestConfiguredRules: rule sets of their own words and triggers, at the
// limits New accepts and where their matching differs from the built-in
// words'.
func TestConfiguredRules(t *testing.T) {
	longest := strings.Repeat("a", maxTermRunes)
	cases := []struct {
		name        string
		profanity   []string
		effects     map[string]string
		in, want    string
		wantEffects []string
	}{
		{"word of maxTermRunes characters", []string{longest}, nil, longest, "a" + strings.Repeat("*", maxTermRunes-1), []string{}},
		{"effect name of 32 characters", nil, map[string]string{"yay": strings.Repeat("e", 32)}, "yay!", "yay!", []string{strings.Repeat("e", 32)}},
		{"effect name of every allowed kind of character", nil, map[string]string{"yay": "AZaz09-_"}, "yay", "yay", []string{"AZaz09-_"}},
		{"maxTerms words and triggers", manyWords(maxTerms / 2), manyTriggers(maxTerms / 2), "w1 and t1", "w* and t1", []string{"x"}},
		// "℅" reads "c/o": two words inside one character, which is kept
		// as the first character of a match.
		{"two matches inside one character", []string{"c", "o"}, nil, "℅ here", "℅ here", []string{}},
		// Hangul spelled out needs a separator other than a space, also
		// where a mixed word continues in Latin letters.
		{"mixed word spelled with a space after Hangul", []string{"씨bal"}, nil, "씨 b.a.l", "씨 b.a.l", []string{}},
		{"mixed word spelled with dots", []string{"씨bal"}, nil, "씨.b.a.l", "씨******", []string{}},
		// A trigger spelled exactly as the text wins over a phrase that
		// reads the same with nothing between its words.
		{"exact trigger wins over a phrase", nil, map[string]string{"happy birthday": "confetti", "happybirthday": "cake"}, "happybirthday", "happybirthday", []string{"cake"}},
		{"the phrase where it is spaced", nil, map[string]string{"happy birthday": "confetti", "happybirthday": "cake"}, "happy birthday", "happy birthday", []string{"confetti"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(c.profanity, c.effects)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := r.Soften(c.in); got != c.want {
				t.Errorf("Soften(%q) = %q, want %q", c.in, got, c.want)
			}
			if got := r.Effects(c.in); !slices.Equal(got, c.wantEffects) {
				t.Errorf("Effects(%q) = %q, want %q", c.in, got, c.wantEffects)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	format := regexp.MustCompile(`^v1-[0-9a-f]{8}$`)
	base := func(words []string, eff map[string]string) string {
		t.Helper()
		r, err := New(words, eff)
		if err != nil {
			t.Fatal(err)
		}
		if !format.MatchString(r.Version()) {
			t.Fatalf("Version() = %q", r.Version())
		}
		return r.Version()
	}
	v := base([]string{"damn", "heck"}, map[string]string{"congrats": "balloons", "yay": "party"})
	same := []struct {
		name  string
		words []string
		eff   map[string]string
	}{
		{"same lists", []string{"damn", "heck"}, map[string]string{"congrats": "balloons", "yay": "party"}},
		{"other order", []string{"heck", "damn"}, map[string]string{"yay": "party", "congrats": "balloons"}},
		{"case and width variants", []string{"DAMN", "ｈｅｃｋ", "damn"}, map[string]string{"Congrats": "balloons", "YAY": "party"}},
		{"built-in word repeated", []string{"damn", "heck", "Fuck"}, map[string]string{"congrats": "balloons", "yay": "party"}},
		{"spaces and punctuation around words", []string{" damn", "heck!"}, map[string]string{"congrats ": "balloons", "!yay": "party"}},
	}
	for _, c := range same {
		if got := base(c.words, c.eff); got != v {
			t.Errorf("%s: Version %q, want %q", c.name, got, v)
		}
	}
	differ := []struct {
		name  string
		words []string
		eff   map[string]string
	}{
		{"word added", []string{"damn", "heck", "darn"}, map[string]string{"congrats": "balloons", "yay": "party"}},
		{"effect renamed", []string{"damn", "heck"}, map[string]string{"congrats": "confetti", "yay": "party"}},
		{"trigger dropped", []string{"damn", "heck"}, map[string]string{"congrats": "balloons"}},
		{"word moved to triggers", []string{"damn"}, map[string]string{"congrats": "balloons", "yay": "party", "heck": "x"}},
	}
	for _, c := range differ {
		if got := base(c.words, c.eff); got == v {
			t.Errorf("%s: Version unchanged %q", c.name, got)
		}
	}
}

// TestConcurrentUse: one *Rules serves many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	r := testRules(t)
	inputs := []string{"fuck", "happy birthday ｆｕｃｋ", "개새끼야", "plain text 😀", "f.u.c.k congrats"}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i] = r.Soften(in) + "|" + strings.Join(r.Effects(in), ",")
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 500 {
				i := (g + n) % len(inputs)
				if got := r.Soften(inputs[i]) + "|" + strings.Join(r.Effects(inputs[i]), ","); got != want[i] {
					t.Errorf("%q: %q, want %q", inputs[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

// typical is a 100-character chat message with emoji and no profanity.
const typical = "Hey everyone! Just finished my first marathon 🏃‍♀️ — legs are dead but so worth it, thanks!! 🎉 yay!!"

func BenchmarkSoften(b *testing.B) {
	r := testRules(b)
	for _, c := range []struct{ name, text string }{
		{"clean", typical},
		{"one_word", strings.Replace(typical, "so worth", "damn worth", 1)},
		{"korean", "오늘 마라톤 완주했어요 🏃‍♀️ 다리가 너무 아프지만 정말 뿌듯해요! 다들 응원해줘서 고마워요 🎉 다음에는 같이 뛰어요, 진짜 재밌어요!"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.text)))
			for b.Loop() {
				r.Soften(c.text)
			}
		})
	}
}

func BenchmarkEffects(b *testing.B) {
	r := testRules(b)
	b.ReportAllocs()
	for b.Loop() {
		r.Effects(typical)
	}
}

// TestSegmentsMatchNorm checks fold's shortcut for segment boundaries
// against norm's own segmentation, on texts that mix every kind of
// character the shortcut handles with the ones that combine.
func TestSegmentsMatchNorm(t *testing.T) {
	pieces := []string{
		"a", "Z", "1", " ", "!", "é", "e\u0301", "\u0301", "\u0308\u0301", "가", "각", "\u1100", "\u1161",
		"\u11a8", "漢", "字", "😀", "👍🏽", "\u200d", "\u200b", "ﬀ", "ß", "ｆ", "\u0b47", "\u0b3e", "\u0cbf",
		"\u0cd5", "\u0dd9", "\u0dcf", "\u3099", "か", "\u05d0\u05b7", "\u0627\u0654", "\x7f", "\u00ad",
		"\u0300", "\ufe20", // the first combining mark, and one above the CJK range
	}
	f := getFolder()
	defer putFolder(f)
	for n := range 20000 {
		var b strings.Builder
		for k := range 2 + n%7 {
			b.WriteString(pieces[(n*7+k*13+n/len(pieces))%len(pieces)])
		}
		text := b.String()
		f.fold(text)
		var want []int32
		for i := 0; i < len(text); {
			m := norm.NFKC.NextBoundaryInString(text[i:], true)
			want = append(want, int32(i+m))
			i += m
		}
		var got []int32
		for _, s := range f.segs {
			got = append(got, s.end)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%+q: segments end at %v, norm says %v", text, got, want)
		}
	}
}

// TestPutFolderDropsHugeScratch: a folder goes back to the pool without the
// scratch of a text above 1<<14 units, so that one huge message does not
// stay alive in the pool.
func TestPutFolderDropsHugeScratch(t *testing.T) {
	for _, c := range []struct {
		capacity int
		kept     bool
	}{
		{0, true},
		{1 << 14, true},
		{1<<14 + 1, false},
	} {
		f := &folder{caser: cases.Fold()}
		f.units, f.segs = make([]unit, 0, c.capacity), make([]segment, 0, c.capacity)
		putFolder(f)
		if kept := f.units != nil && f.segs != nil; kept != c.kept {
			t.Errorf("capacity %d: scratch kept = %v, want %v", c.capacity, kept, c.kept)
		}
	}
}
