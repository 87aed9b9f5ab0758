package moderation

// trie holds the normalised words or phrases of one kind (profanity, effect
// triggers). A phrase's words are joined by gap edges, which skip any run of
// non-word characters, including none.
type trie struct {
	nodes []node
}

type node struct {
	next map[rune]int32
	gap  int32 // child across a gap, or -1
	term int32 // index of the term ending here, or -1
	// spelled is set on terminal nodes of one-word terms, which may also be
	// spelled out letter by letter.
	spelled bool
}

func newTrie() *trie {
	return &trie{nodes: []node{{gap: -1, term: -1}}}
}

func (t *trie) child(n int32, r rune) int32 {
	if c, ok := t.nodes[n].next[r]; ok {
		return c
	}
	c := int32(len(t.nodes))
	t.nodes = append(t.nodes, node{gap: -1, term: -1})
	if t.nodes[n].next == nil {
		t.nodes[n].next = map[rune]int32{}
	}
	t.nodes[n].next[r] = c
	return c
}

func (t *trie) gapChild(n int32) int32 {
	if c := t.nodes[n].gap; c >= 0 {
		return c
	}
	c := int32(len(t.nodes))
	t.nodes = append(t.nodes, node{gap: -1, term: -1})
	t.nodes[n].gap = c
	return c
}

// insert adds a term given as words of runes; it returns the index of the
// term already there, if any, and whether it was new.
func (t *trie) insert(words [][]rune, term int32) (int32, bool) {
	n := int32(0)
	for i, w := range words {
		if i > 0 {
			n = t.gapChild(n)
		}
		for _, r := range w {
			n = t.child(n, r)
		}
	}
	if old := t.nodes[n].term; old >= 0 {
		return old, false
	}
	t.nodes[n].term = term
	t.nodes[n].spelled = len(words) == 1
	return term, true
}

// match is a found term: units [start, end).
type match struct {
	start, end int
	term       int32
}

// longest returns the longest term that starts at unit i, read contiguously
// or (if spelled) spelled out, or ok=false.
func (t *trie) longest(u []unit, i int, spelled bool) (m match, ok bool) {
	if !u[i].word {
		return match{}, false
	}
	best := match{start: i, end: -1, term: -1}
	// Left boundary: an edge letter of an unspaced script needs none.
	if u[i].unspaced || i == 0 || !u[i-1].blocks() {
		t.walk(u, i, 0, i, false, &best)
	}
	if spelled && (i == 0 || !u[i-1].word) {
		t.walkSpelled(u, i, &best)
	}
	return best, best.end > 0
}

// walk follows the trie from node n at unit j, contiguously; real says
// whether a real letter was consumed.
func (t *trie) walk(u []unit, i int, n int32, j int, real bool, best *match) {
	nd := &t.nodes[n]
	if nd.term >= 0 && real && j > best.end {
		// Right boundary: as on the left.
		if last := &u[j-1]; last.unspaced || j == len(u) || !u[j].blocks() {
			best.end, best.term = j, nd.term
		}
	}
	if j < len(u) && u[j].word {
		if c, ok := nd.next[u[j].r]; ok {
			t.walk(u, i, c, j+1, real || u[j].real, best)
		}
	}
	if nd.gap >= 0 {
		k := j
		for k < len(u) && !u[k].word {
			k++
		}
		t.walk(u, i, nd.gap, k, real, best)
	}
}

// maxSpelledSep bounds the separators between spelled-out letters.
const maxSpelledSep = 3

// walkSpelled follows one-word terms spelled out: one letter, 1 to 3
// separators, one letter, … The spelling must stand alone: nothing word-like
// right before it (checked by the caller) and no further spelled-out letter
// right after it.
func (t *trie) walkSpelled(u []unit, i int, best *match) {
	n, j, real, letters := int32(0), i, false, 0
	for {
		c, ok := t.nodes[n].next[u[j].r]
		if !ok {
			return
		}
		n, real, letters = c, real || u[j].real, letters+1
		j++
		nd := &t.nodes[n]
		// The next chunk: a run of separators, then what follows it.
		k := j
		hasSpace := false
		for k < len(u) && k-j < maxSpelledSep+1 && u[k].sep {
			hasSpace = hasSpace || u[k].space
			k++
		}
		sepLen := k - j
		next := k < len(u) && u[k].word && sepLen >= 1 && sepLen <= maxSpelledSep &&
			!(hasSpace && (u[k].unspaced || u[j-1].unspaced))
		// A single letter follows when the letter after it is not a word
		// character: the spelling continues.
		continues := next && (k+1 == len(u) || !u[k+1].word)
		if nd.term >= 0 && nd.spelled && real && letters >= 2 && j > best.end &&
			(j == len(u) || !u[j].word) && !continues {
			best.end, best.term = j, nd.term
		}
		if !continues {
			return
		}
		j = k
	}
}
