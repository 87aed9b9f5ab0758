package moderation

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// unit is one normalised character of a text, pointing back at the segment
// of the original text it came from. One segment may yield several units
// ("ﬀ" → f, f) or none (a zero-width space).
type unit struct {
	r   rune  // the normalised character
	seg int32 // index of its segment
	// word: part of a word (a letter, a digit, or leetspeak read as a letter).
	word bool
	// real: an actual letter, not a digit or leetspeak.
	real bool
	// unspaced: a letter of a script that does not separate words with
	// spaces (Hangul, Han, kana, Thai, …).
	unspaced bool
	// sep: a space or punctuation, which may separate spelled-out letters.
	sep bool
	// space: whitespace.
	space bool
}

// blocks reports whether u, next to a match, makes it part of a longer word.
func (u *unit) blocks() bool { return u.word && !u.unspaced }

// segment is a span of the original text that normalises as a whole (a
// character with its combining marks).
type segment struct {
	start, end int32
	// visible is false for a segment of ignorable characters only.
	visible bool
}

// folded is a normalised text.
type folded struct {
	units []unit
	segs  []segment
}

// folderPool reuses folding scratch space and case folders (a cases.Caser
// is stateful and must not be shared between goroutines).
var folderPool = sync.Pool{New: func() any {
	return &folder{caser: cases.Fold()}
}}

type folder struct {
	caser cases.Caser
	folded
}

func getFolder() *folder { return folderPool.Get().(*folder) }

func putFolder(f *folder) {
	// Do not keep the scratch of a huge text alive.
	if cap(f.units) > 1<<14 {
		f.units, f.segs = nil, nil
	}
	folderPool.Put(f)
}

// ignorable characters are dropped before matching: zero-width space,
// non-joiner and joiner, word joiner, zero-width no-break space (BOM), soft
// hyphen. They are the usual way to split a word invisibly.
func ignorable(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD:
		return true
	}
	return false
}

// leet maps the leetspeak characters read as letters.
var leet = map[rune]rune{
	'0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', '$': 's',
}

// lookalike maps case-folded Cyrillic and Greek letters that render like
// Latin ones, plus Latin letters whose stroke is not a combining mark.
var lookalike = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k',
	'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's',
	'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ɡ': 'g',
	// Greek
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p',
	'τ': 't', 'υ': 'u', 'χ': 'x', 'ϲ': 'c', 'ϳ': 'j',
	// Latin letters with a stroke or without a dot
	'ø': 'o', 'ł': 'l', 'đ': 'd', 'ħ': 'h', 'ı': 'i', 'ŧ': 't', 'ƀ': 'b', 'ɨ': 'i',
}

// accentless maps precomposed Latin letters to their base letter ("é" → e),
// computed once from the canonical decompositions.
var accentless = func() map[rune]rune {
	m := map[rune]rune{}
	add := func(lo, hi rune) {
		for r := lo; r <= hi; r++ {
			d := norm.NFD.String(string(r))
			base, n := utf8.DecodeRuneInString(d)
			if n == len(d) || base >= utf8.RuneSelf || !unicode.IsLetter(base) {
				continue
			}
			ok := true
			for _, m := range d[n:] {
				if !unicode.Is(unicode.Mn, m) {
					ok = false
					break
				}
			}
			if ok {
				m[r] = unicode.ToLower(base)
			}
		}
	}
	add(0x00C0, 0x024F) // Latin-1 Supplement, Latin Extended-A and -B
	add(0x1E00, 0x1EFF) // Latin Extended Additional
	return m
}()

// unspacedScripts do not separate words with spaces.
var unspacedScripts = []*unicode.RangeTable{
	unicode.Hangul, unicode.Han, unicode.Hiragana, unicode.Katakana,
	unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar,
}

// asciiUnits holds the unit of every ASCII byte, precomputed.
var asciiUnits = func() (t [utf8.RuneSelf]unit) {
	for b := range rune(utf8.RuneSelf) {
		t[b] = classify(unicode.ToLower(b))
	}
	return t
}()

// classify builds the unit of one case-folded character.
func classify(r rune) unit {
	if isHangulSyllable(r) { // the bulk of Korean text
		return unit{r: r, word: true, real: true, unspaced: true}
	}
	// The range checks keep map lookups off the common path of scripts the
	// tables do not cover (Han, emoji, …).
	if r < utf8.RuneSelf {
		if l, ok := leet[r]; ok {
			return unit{r: l, word: true}
		}
	} else if r < 0x0530 || 0x1E00 <= r && r < 0x1F00 {
		if l, ok := lookalike[r]; ok {
			r = l
		} else if l, ok := accentless[r]; ok {
			r = l
		}
	}
	u := unit{r: r}
	switch {
	case unicode.IsLetter(r):
		u.word, u.real = true, true
		if r >= 0x0E00 { // below it, no unspaced script
			for _, t := range unspacedScripts {
				if unicode.Is(t, r) {
					u.unspaced = true
					break
				}
			}
		}
	case unicode.IsDigit(r) || unicode.IsNumber(r):
		u.word = true
	case unicode.IsSpace(r):
		u.sep, u.space = true, true
	case unicode.IsPunct(r):
		u.sep = true
	}
	return u
}

// simple reports whether the one-character segment r normalises to itself
// (no decomposition, no case): true for most emoji, Hangul, Han, kana.
func simple(r rune, seg string) bool {
	if isHangulSyllable(r) {
		return true
	}
	return unicode.SimpleFold(r) == r && norm.NFKC.PropertiesString(seg).Decomposition() == nil
}

// fold normalises text into f.units and f.segs, reusing their storage.
// text must be valid UTF-8.
func (f *folder) fold(text string) {
	f.units, f.segs = f.units[:0], f.segs[:0]
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		n := size
		if i+n < len(text) {
			if next, _ := utf8.DecodeRuneInString(text[i+n:]); !startsSegment(next) {
				// The next character may combine with this one: let norm
				// find where the segment ends.
				if n = norm.NFKC.NextBoundaryInString(text[i:], true); n <= 0 {
					n = len(text) - i
				}
			}
		}
		seg := text[i : i+n]
		idx := int32(len(f.segs))
		before := len(f.units)
		ignored := false
		switch {
		case n == 1 && seg[0] < utf8.RuneSelf:
			u := asciiUnits[seg[0]]
			u.seg = idx
			f.units = append(f.units, u)
		case size == n && ignorable(r):
			ignored = true
		case size == n && simple(r, seg):
			f.add(r, idx)
		default:
			for _, r := range f.caser.String(norm.NFKC.String(seg)) {
				f.add(r, idx)
			}
			ignored = len(f.units) == before && onlyIgnorable(seg)
		}
		f.segs = append(f.segs, segment{start: int32(i), end: int32(i + n), visible: !ignored})
		i += n
	}
}

// startsSegment reports, for the common ranges only, that r never combines
// with the character before it under NFKC: no canonical composition has a
// second character below U+0300 (combining marks start there), and Hangul
// syllables and CJK ideographs only ever start a composition. For anything
// else fold asks norm; TestSegmentsMatchNorm checks the shortcut.
func startsSegment(r rune) bool {
	return r < 0x0300 || isHangulSyllable(r) ||
		0x4E00 <= r && r <= 0x9FFF
}

// isHangulSyllable reports a precomposed Hangul syllable (U+AC00..U+D7A3).
func isHangulSyllable(r rune) bool { return 0xAC00 <= r && r <= 0xD7A3 }

// add appends the unit of a case-folded character, dropping combining marks
// (so "f\u0301uck" reads as "fuck") and ignorable characters.
func (f *folder) add(r rune, seg int32) {
	if (r >= 0x0300 || r == 0x00AD) && !isHangulSyllable(r) && (ignorable(r) || unicode.In(r, unicode.Mn, unicode.Me)) {
		return
	}
	u := classify(r)
	u.seg = seg
	f.units = append(f.units, u)
}

func onlyIgnorable(s string) bool {
	for _, r := range s {
		if !ignorable(r) {
			return false
		}
	}
	return true
}
