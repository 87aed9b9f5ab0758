package command

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// On brokers with ACLs an instance's writer needs a grant of its own, on
// the prefix of the instance transactional ids (`happychat acls` adds it,
// docs/adr/0006): an operator who raised the cluster to level 6 before
// granting it would stop every write, each instance starting its group
// session over once a second. So an instance whose build knows level 6
// advertises it in its node id lease only once it has initialised a
// producer id under its own instance transactional id, and `happychat
// features --set 6` is refused until every instance has (SetFeatureLevel).
//
// The check is that initialisation itself, with a client of its own: the
// id is this instance's alone (its advertised address), and it is made
// before the group session exists and then only while the cluster is below
// level 6, when the session leaves the id unused, so it fences nothing of
// this instance's; it ends a transaction a previous process at the same
// address left open, as the session's own initialisation would.

// advertisedLevel is the feature level this instance can run: its build's,
// but below level 6 until the check above passed.
func (s *Service) advertisedLevel() int {
	lv := s.supportedLevel()
	if lv >= instanceTxnLevel && !s.instanceGrant.Load() {
		return instanceTxnLevel - 1
	}
	return lv
}

// probeInstanceGrant runs the check until it passes once: at the start and
// after each lease renewal while the cluster is below level 6.
func (s *Service) probeInstanceGrant(ctx context.Context) {
	if s.instanceGrant.Load() || s.supportedLevel() < instanceTxnLevel {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := s.fenceTxnID(pctx, s.instanceTxnID())
	switch {
	case err == nil:
		s.instanceGrant.Store(true)
		if s.lease != nil {
			s.lease.advertise(s.advertisedLevel())
		}
		if s.grantWarned.Load() {
			s.log.Info("instance transactional id granted: this instance now advertises its build's feature level",
				"id", s.instanceTxnID(), "level", s.advertisedLevel())
		}
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		if !s.grantWarned.Swap(true) {
			s.log.Error("this instance's Kafka principal may not use its instance transactional id: "+
				"it advertises feature level 5 until it may (run `happychat acls` as the setup principal)",
				"id", s.instanceTxnID(), "err", err)
		}
	case ctx.Err() == nil:
		s.log.Warn("instance transactional id not checked yet; retried at the next lease renewal",
			"id", s.instanceTxnID(), "err", err)
	}
}
