// Package moderation holds the chat's text rules: softening profanity and
// finding the trigger words of screen effects. It is pure (no I/O, no clock)
// and versioned, so that every path that shows a message — the command
// service's answer to a send, the projector writing history, the realtime
// push — renders the same text from the same event, and a rebuild under a new
// word list is a deliberate, visible change (Rules.Version).
//
// # What matches
//
// Text and words are compared after the same normalisation: Unicode NFKC
// (fullwidth, ligatures, circled and mathematical letters become plain ones),
// case folding, accents stripped from Latin letters, zero-width characters
// (U+200B..U+200D, U+2060, U+FEFF) and soft hyphens ignored, a few Cyrillic
// and Greek look-alikes read as Latin, and common leetspeak read as letters
// (0→o, 1→i, 3→e, 4→a, 5→s, 7→t, @→a, $→s).
//
// A word matches whole: "assess", "classic" and "Scunthorpe" are left alone.
// Digits and leetspeak count as part of a word, so "c1ass" is a word of its
// own too. Hangul, Han, kana and Thai do not separate words with spaces, so
// an edge of a word in those scripts matches without a boundary ("개새끼야"
// holds "개새끼"), and a letter of those scripts does not end an English word
// ("fuck요" holds "fuck"). A listed word spelled out letter by letter with
// up to three separators between letters ("f.u.c.k", "f u c k", "f-u-c-k")
// matches too, as long as the spelling stands alone; Hangul spelled out needs
// a separator other than a space ("씨.발"), since "씨 발" is ordinary Korean.
// A match needs at least one real letter, so numbers such as "455" never
// match. Phrases ("happy birthday") match with any punctuation, spaces or
// none between their words.
//
// # The mask
//
// Soften keeps the first character of a match and replaces every following
// visible character of the matched span by '*': "fuck" → "f***",
// "f.u.c.k" → "f******", "씨발" → "씨*". Everything outside matches is left
// byte for byte (emoji, Korean, RTL text, markup); the mask never introduces
// '<', '>' or '&'. Invalid UTF-8 is replaced by U+FFFD, so the output is
// always valid UTF-8. Soften is idempotent: it repeats until a pass finds
// nothing, which ends because each pass that changes the text replaces at
// least one character that was not '*' by '*'.
//
// # Concurrency
//
// A *Rules is immutable after New; every method may be called from any number
// of goroutines at once. Build it once at start-up (it precomputes its tries)
// and share it.
package moderation
