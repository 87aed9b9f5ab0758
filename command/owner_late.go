package command

import "time"

// An owner's answer at the write timeout, given while its batch's
// transaction goes on (process).

// lateAnswer answers a batch's commands 503 once the write timeout passes,
// while the owner keeps finishing the batch's transaction.
type lateAnswer struct {
	timer *time.Timer
	fired chan struct{} // closed once the commands were answered
}

// answerLate arms the answer at the write timeout. A write that outlives
// it (a partition leader or a transaction coordinator moving: the new one
// answers only once the controller has noticed the old one's death, Kafka's
// broker.session.timeout.ms) is not cut there: cutting it meant an abort
// and a catch-up with the log on top of the failover (measured: 2.8 s more
// without writes in txn-coordinator-kill). The clients are not held past
// the write timeout either: they get a 503 (which acknowledges nothing) and
// retry with the same ids, finding the original if it committed. Until the
// write ends the owner answers 503 at once (recovering).
func (o *owner) answerLate(answer func()) *lateAnswer {
	l := &lateAnswer{fired: make(chan struct{})}
	l.timer = time.AfterFunc(o.svc.cfg.WriteTimeout, func() {
		o.recovering.Store(true)
		answer()
		close(l.fired)
	})
	return l
}

// stop disarms the answer and reports whether it was given (then the
// commands must not be answered again).
func (l *lateAnswer) stop() bool {
	if l.timer.Stop() {
		return false
	}
	<-l.fired
	return true
}
