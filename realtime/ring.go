package realtime

// ring holds a room's most recent event frames, contiguous in seq: it
// answers the common resume (a reconnect a few events late, or the events
// that land between a handshake's presence snapshot and its registration)
// without reading Kafka. Guarded by hub.mu.
type ring struct {
	buf   []*frame
	start int // index of the oldest frame
	n     int
}

func newRing(capacity int) *ring { return &ring{buf: make([]*frame, capacity)} }

// push appends f; the caller guarantees f.seq is one more than the newest
// frame's (or resets the ring first). The oldest frame falls out when full.
func (r *ring) push(f *frame) {
	if len(r.buf) == 0 {
		return
	}
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = f
		r.n++
		return
	}
	r.buf[r.start] = f
	r.start = (r.start + 1) % len(r.buf)
}

// reset forgets every frame (after a gap, the ring would no longer be
// contiguous).
func (r *ring) reset() {
	clear(r.buf)
	r.start, r.n = 0, 0
}

// after returns the frames with seq > seq, oldest first, if the ring holds
// seq+1 (it may then be empty when seq is the newest); ok=false means the
// ring starts later and cannot fill the gap.
func (r *ring) after(seq int64) (frames []*frame, ok bool) {
	if r.n == 0 {
		return nil, false
	}
	first := r.buf[r.start].seq
	last := first + int64(r.n) - 1
	switch {
	case seq+1 < first:
		return nil, false
	case seq >= last:
		return nil, true
	}
	skip := int(seq + 1 - first)
	frames = make([]*frame, 0, r.n-skip)
	for i := skip; i < r.n; i++ {
		frames = append(frames, r.buf[(r.start+i)%len(r.buf)])
	}
	return frames, true
}

// replace swaps the frame of seq for f, if the ring still holds it (a
// deleted message's frame for its tombstone).
func (r *ring) replace(seq int64, f *frame) {
	if r.n == 0 {
		return
	}
	first := r.buf[r.start].seq
	if seq < first || seq >= first+int64(r.n) {
		return
	}
	r.buf[(r.start+int(seq-first))%len(r.buf)] = f
}
