package moderation

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// algorithm names the normalisation and matching rules implemented here.
// Bump it whenever a change could soften a text differently, so that Version
// changes even when the word lists do not.
const algorithm = "v1"

// builtinProfanity is the built-in list: small and mild on purpose, the
// operator adds words with CHAT_PROFANITY_WORDS. Whole-word matching means
// inflections are listed where they are common.
var builtinProfanity = []string{
	"fuck", "fucking", "fucker", "fucked", "motherfucker",
	"shit", "shitty", "bullshit",
	"bitch", "bastard", "asshole", "ass", "dick", "cunt", "wanker", "bollocks",
	"씨발", "개새끼",
}

// Limits on configured words, so a bad configuration fails at start-up
// rather than slowing every message.
const (
	maxTermRunes = 64
	maxTerms     = 10000
)

// Rules is one immutable set of text rules. Build it with New.
type Rules struct {
	profanity *trie
	triggers  *trie
	effects   []string // effect name of each trigger term
	version   string
}

// Errors of New.
var (
	ErrBadWord   = errors.New("moderation: bad word")
	ErrBadEffect = errors.New("moderation: bad effect")
)

// New builds the rules from the built-in profanity list plus profanity, and
// from effects: a trigger word or phrase → an effect name (for instance
// "congrats" → "balloons", "happy birthday" → "confetti"). Words and triggers
// are normalised as texts are (case, width, accents, leetspeak), so "Congrats"
// and "congrats" are the same trigger. Effect names are 1 to 32 ASCII
// letters, digits, '-' or '_'.
func New(profanity []string, effects map[string]string) (*Rules, error) {
	if len(profanity)+len(effects) > maxTerms {
		return nil, fmt.Errorf("%w: more than %d words", ErrBadWord, maxTerms)
	}
	r := &Rules{profanity: newTrie(), triggers: newTrie()}
	f := getFolder()
	defer putFolder(f)

	var profKeys []string
	for _, w := range slices.Concat(builtinProfanity, profanity) {
		words, key, err := termWords(f, w)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadWord, w, err)
		}
		if _, isNew := r.profanity.insert(words, int32(len(profKeys))); isNew {
			profKeys = append(profKeys, key)
		}
	}

	triggers := make([]string, 0, len(effects))
	for t := range effects {
		triggers = append(triggers, t)
	}
	slices.Sort(triggers) // conflicts are reported the same way every time
	var effKeys []string
	for _, t := range triggers {
		name := effects[t]
		if !validEffect(name) {
			return nil, fmt.Errorf("%w %q for %q: want 1 to 32 of A-Z a-z 0-9 - _", ErrBadEffect, name, t)
		}
		words, key, err := termWords(f, t)
		if err != nil {
			return nil, fmt.Errorf("%w: trigger %q: %w", ErrBadEffect, t, err)
		}
		idx, isNew := r.triggers.insert(words, int32(len(r.effects)))
		if !isNew {
			if r.effects[idx] != name {
				return nil, fmt.Errorf("%w: trigger %q means both %q and %q", ErrBadEffect, t, r.effects[idx], name)
			}
			continue
		}
		r.effects = append(r.effects, name)
		effKeys = append(effKeys, key+"="+name)
	}

	slices.Sort(profKeys)
	slices.Sort(effKeys)
	h := sha256.New()
	fmt.Fprintf(h, "moderation %s\n", algorithm)
	for _, k := range profKeys {
		fmt.Fprintf(h, "p %q\n", k)
	}
	for _, k := range effKeys {
		fmt.Fprintf(h, "e %q\n", k)
	}
	r.version = algorithm + "-" + hex.EncodeToString(h.Sum(nil))[:8]
	return r, nil
}

// termWords normalises a configured word or phrase into its words, and a key
// that names it canonically.
func termWords(f *folder, w string) ([][]rune, string, error) {
	if !utf8.ValidString(w) {
		return nil, "", errors.New("invalid UTF-8")
	}
	if utf8.RuneCountInString(w) > maxTermRunes {
		return nil, "", fmt.Errorf("longer than %d characters", maxTermRunes)
	}
	f.fold(w)
	var words [][]rune
	var cur []rune
	real := false
	for _, u := range f.units {
		if u.word {
			cur = append(cur, u.r)
			real = real || u.real
			continue
		}
		if len(cur) > 0 {
			words, cur = append(words, cur), nil
		}
	}
	if len(cur) > 0 {
		words = append(words, cur)
	}
	if !real {
		return nil, "", errors.New("holds no letter")
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = string(w)
	}
	return words, strings.Join(parts, " "), nil
}

func validEffect(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Version names the rule set: the algorithm version and a hash of the
// normalised word lists and effects, e.g. "v1-3f2a9c1b". Equal versions
// soften and trigger identically; views store it to know when a rebuild
// would change what they show.
func (r *Rules) Version() string { return r.version }

// Soften masks every listed word in text (see the package documentation) and
// returns text unchanged, without copying, when there is none.
func (r *Rules) Soften(text string) string {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	f := getFolder()
	defer putFolder(f)
	// Repeat until nothing matches: masking a word can end the word next to
	// it. Every changing pass turns at least one character that was not '*'
	// into '*', so this ends, and usually after one pass.
	for {
		out, changed := r.softenOnce(f, text)
		if !changed {
			return out
		}
		text = out
	}
}

func (r *Rules) softenOnce(f *folder, text string) (string, bool) {
	f.fold(text)
	u := f.units
	var b strings.Builder
	copied := 0 // bytes of text already written to b
	for i := 0; i < len(u); {
		m, ok := r.profanity.longest(u, i, true)
		if !ok {
			i++
			continue
		}
		first, last := u[m.start].seg, u[m.end-1].seg
		start, end := int(f.segs[first].start), int(f.segs[last].end)
		if b.Len() == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[copied:start])
		b.WriteString(text[start:f.segs[first].end])
		for s := first + 1; s <= last; s++ {
			if f.segs[s].visible {
				b.WriteByte('*')
			}
		}
		copied = end
		// Skip to the first unit of the next segment: matches never share
		// a segment.
		for i = m.end; i < len(u) && u[i].seg <= last; i++ {
		}
	}
	if copied == 0 {
		return text, false
	}
	b.WriteString(text[copied:])
	out := b.String()
	return out, out != text
}

// Effects returns the names of the screen effects whose triggers text holds,
// each once, in the order their first triggers appear; never nil.
func (r *Rules) Effects(text string) []string {
	out := []string{}
	if len(r.effects) == 0 {
		return out
	}
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	f := getFolder()
	defer putFolder(f)
	f.fold(text)
	u := f.units
	for i := 0; i < len(u); {
		m, ok := r.triggers.longest(u, i, false)
		if !ok {
			i++
			continue
		}
		if name := r.effects[m.term]; !slices.Contains(out, name) {
			out = append(out, name)
		}
		i = m.end
	}
	return out
}
