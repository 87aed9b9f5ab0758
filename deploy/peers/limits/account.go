package main

import "math/bits"

// account walks the ledger once everything has stopped.
func (e *engine) account(total int64, sst schedStats, senders []*tally) *fanoutResult {
	var t tally
	for _, c := range e.clients {
		t.merge(&c.tally)
	}
	for _, s := range senders {
		t.merge(s)
	}
	r := &fanoutResult{Target: *target, Send: *send, Run: tag.id, Conns: *n, Rooms: *rooms, MaxPerRoom: e.maxRoom(),
		Rate: *rate, DurS: dur.Seconds(), Inflight: *inflight, Setup: phaseFigs(e.phases),
		Scheduled: total, ShedInflight: sst.shedInflight, ShedNoSender: sst.shedNoSender,
		LateAcks: t.lateAcks, DupAcks: t.dupAcks, ErrorCodes: t.errs,
		Deliveries: t.deliv, DeliveriesInWindow: t.inWindow, Dup: t.dup, Extra: t.extra, Misrouted: t.misrouted,
		Foreign: t.foreign, OutOfOrder: t.ooo, SeqGaps: t.gaps, Disconnects: e.disconnects.Load(), Frames: t.frames,
		Latency: t.lat.fig(), LatencyFromWrite: t.latW.fig(), AckLatency: t.ackLat.fig(), IssueLag: t.lag.fig(),
		WriteToSentAt: t.toSat.fig(), SentAtToReceipt: t.fromSat.fig()}
	L := e.led
	for k := range e.scheduled.Load() {
		exp := L.expect[k*int64(L.w) : (k+1)*int64(L.w)]
		missing, got := 0, 0
		for i, w := range exp {
			g := L.got[k*int64(L.w)+int64(i)].Load()
			missing += bits.OnesCount64(w &^ g)
			got += bits.OnesCount64(g)
		}
		switch L.state[k].Load() {
		case stShed:
			r.Shed++
			continue
		case stAcked:
			r.Acked++
			r.Expected += int64(L.expected(k))
			r.Lost += int64(missing)
		case stRefused:
			r.Refused++
			r.DeliveredRefused += int64(got)
		case stQueued, stInflight:
			r.Unanswered++
			r.MissingUnacked += int64(missing)
		case stTimeout:
			r.Timeouts++
			r.MissingUnacked += int64(missing)
		}
		r.Issued++
	}
	return r
}
