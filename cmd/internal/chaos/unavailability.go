package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"happychat/schemas"
)

// Write unavailability: the longest time some room (and so its partition:
// a room never spans partitions) accepted no write although clients were
// asking it to. It is measured from what the clients saw, not from the
// brokers' metadata, because a partition with a leader can still refuse
// writes (no quorum of in-sync replicas, its owner fenced, a coordinator
// moving) and a client's view is what an outage is.

// sendSpan is one logical send as the unavailability sees it: the room,
// when the client began asking, and when it stopped (acknowledged, or
// given up on).
type sendSpan struct {
	room       schemas.ID
	start, end time.Time
	acked      bool
}

// noWrite is the longest interval without an acknowledged send in one room
// while sends to it were outstanding.
type noWrite struct {
	room     schemas.ID
	from, to time.Time
}

func (g noWrite) length() time.Duration { return g.to.Sub(g.from) }

// longestNoWrite finds, over every room, the longest interval during which
// the room acknowledged nothing while a send to it was outstanding.
//
// Per room, the acknowledgements cut time into intervals. An interval ends
// at an acknowledgement (or, after the last one, at the end of the last
// send that was given up on: an outage the load outlived is still one). It
// begins at the previous acknowledgement, or later if no send was
// outstanding then: at the start of the first send still unsettled at that
// acknowledgement or begun after it. So an idle room (no sends) is not
// counted as unavailable, and a room whose only send was slow counts the
// send's latency. A send settles at its end; an acknowledged one at its
// acknowledgement.
func longestNoWrite(spans []sendSpan) noWrite {
	byRoom := map[schemas.ID][]sendSpan{}
	for _, s := range spans {
		byRoom[s.room] = append(byRoom[s.room], s)
	}
	var worst noWrite
	for _, room := range slices.Sorted(maps.Keys(byRoom)) {
		if g := roomNoWrite(room, byRoom[room]); g.length() > worst.length() {
			worst = g
		}
	}
	return worst
}

// partitionNoWrite is longestNoWrite per partition of the rooms topic
// (partitions of them): the worst of its rooms, for each partition some
// send went to.
func partitionNoWrite(spans []sendSpan, partitions int) map[int32]noWrite {
	byPart := map[int32][]sendSpan{}
	for _, s := range spans {
		p := schemas.Partition(s.room, partitions)
		byPart[p] = append(byPart[p], s)
	}
	out := make(map[int32]noWrite, len(byPart))
	for p, ss := range byPart {
		out[p] = longestNoWrite(ss)
	}
	return out
}

// perPartition renders partitionNoWrite as "p0 0.3s, p1 5.1s, …".
func perPartition(gaps map[int32]noWrite) string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(gaps)) {
		parts = append(parts, fmt.Sprintf("p%d %s", p, fmtMS(ms(gaps[p].length()))))
	}
	return strings.Join(parts, ", ")
}

// roomNoWrite is longestNoWrite for one room's sends.
func roomNoWrite(room schemas.ID, spans []sendSpan) noWrite {
	var acks []time.Time
	for _, s := range spans {
		if s.acked {
			acks = append(acks, s.end)
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	// Sends by start, to find the first one outstanding after a cut.
	bystart := slices.Clone(spans)
	slices.SortFunc(bystart, func(a, b sendSpan) int { return a.start.Compare(b.start) })

	// firstAsked is when, from t on, the room was first asked for a write:
	// t if a send was outstanding at t, else the start of the next send
	// (false when there is none). t only grows, and a send settled by t is
	// settled by every later t, so the skipped prefix stays skipped.
	next := 0
	firstAsked := func(t time.Time, hasT bool) (time.Time, bool) {
		for hasT && next < len(bystart) && !bystart[next].end.After(t) {
			next++
		}
		if next == len(bystart) {
			return time.Time{}, false
		}
		if s := bystart[next]; !hasT || !s.start.Before(t) {
			return s.start, true
		}
		return t, true
	}
	var worst noWrite
	consider := func(from, to time.Time) {
		if to.Sub(from) > worst.length() {
			worst = noWrite{room: room, from: from, to: to}
		}
	}
	var prev time.Time
	hasPrev := false
	for _, a := range acks {
		if from, ok := firstAsked(prev, hasPrev); ok && from.Before(a) {
			consider(from, a)
		}
		prev, hasPrev = a, true
	}
	// After the last acknowledgement: sends that ended without one.
	var lastGiveUp time.Time
	for _, s := range spans {
		if !s.acked && (!hasPrev || s.end.After(prev)) && s.end.After(lastGiveUp) {
			lastGiveUp = s.end
		}
	}
	if !lastGiveUp.IsZero() {
		if from, ok := firstAsked(prev, hasPrev); ok && from.Before(lastGiveUp) {
			consider(from, lastGiveUp)
		}
	}
	return worst
}

// sendLatencyP99 is the 99th percentile of the acknowledged sends' latency
// (first attempt to acknowledgement, retries included) among the sends
// begun in [from, to], and how many there were.
func sendLatencyP99(spans []sendSpan, from, to time.Time) (float64, int) {
	var lats []time.Duration
	for _, s := range spans {
		if s.acked && !s.start.Before(from) && !s.start.After(to) {
			lats = append(lats, s.end.Sub(s.start))
		}
	}
	return quantileMS(lats, 0.99), len(lats)
}

// spans turns the ledger's sends into sendSpans: a send ends at its
// acknowledgement, or else at its last attempt's answer.
func spans(sends []*timedSend) []sendSpan {
	out := make([]sendSpan, 0, len(sends))
	for _, s := range sends {
		sp := sendSpan{room: s.Room, start: s.start, acked: s.Outcome == Acked}
		switch {
		case sp.acked:
			sp.end = s.acked
		case len(s.attempts) > 0:
			sp.end = s.attempts[len(s.attempts)-1].at
		default:
			continue
		}
		out = append(out, sp)
	}
	return out
}

// writeFigures fills in the scenario's write unavailability and the p99
// send latency during its faults (after recovery: the faults' ends and
// recoveries are known).
func (r *run) writeFigures(res *Result) {
	ss := spans(r.l.snapshot())
	if len(ss) == 0 {
		return
	}
	g := longestNoWrite(ss)
	res.WriteUnavailableMS, res.WriteUnavailableRoom = ms(g.length()), g.room
	if g.room != 0 {
		res.WriteUnavailableFromMS = ms(g.from.Sub(r.start))
	}
	res.WriteUnavailableByPartitionMS = map[int32]int64{}
	for p, g := range partitionNoWrite(ss, r.size.Partitions) {
		res.WriteUnavailableByPartitionMS[p] = ms(g.length())
	}
	if len(r.faults) == 0 {
		return
	}
	from, to := r.faults[0].at, r.faults[0].at
	for _, f := range r.faults {
		from = minTime(from, f.at)
		for _, t := range []time.Time{f.at, f.end, f.ready, f.resumed} {
			to = maxTime(to, t)
		}
	}
	res.FaultSendP99MS, res.FaultSends = sendLatencyP99(ss, from, to)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
