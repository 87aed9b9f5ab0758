package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/schemas"
)

// The cluster's feature level (in the spirit of Kafka's metadata.version):
// the highest level of events the command service may emit. Each instance
// advertises the level its build understands in its node id lease; the
// operator raises the cluster's level with `happychat features --set N`
// once every instance runs a build that understands N, and an instance
// whose build is below the cluster's level refuses to start. Until the
// level is raised, events registered at a higher level are refused
// (docs/command.md, "Rolling upgrades").

// errFeatureLevel is returned by an instance whose build is older than the
// cluster's feature level.
var errFeatureLevel = errors.New("the cluster's feature level is above this build's")

// clusterLevel reads the cluster's feature level (1 until raised).
func clusterLevel(ctx context.Context, pool *pgxpool.Pool, scope string) (int, error) {
	var level int
	err := pool.QueryRow(ctx, `SELECT level FROM command_features WHERE scope = $1`, scope).Scan(&level)
	if errors.Is(err, pgx.ErrNoRows) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the cluster feature level: %w", err)
	}
	return level, nil
}

// InstanceLevel is a live command instance and the feature level its build
// understands.
type InstanceLevel struct {
	InstanceID int
	Level      int
}

// FeatureLevels returns the cluster's feature level and the live command
// instances with theirs (for `happychat features`).
func FeatureLevels(ctx context.Context, pool *pgxpool.Pool, names schemas.Names) (int, []InstanceLevel, error) {
	st := &snapshotStore{pool: pool, topic: names.Rooms}
	if err := st.migrate(ctx); err != nil {
		return 0, nil, err
	}
	level, err := clusterLevel(ctx, pool, names.CommandGroup)
	if err != nil {
		return 0, nil, err
	}
	rows, err := pool.Query(ctx, `SELECT node, level FROM command_node_leases
		WHERE scope = $1 AND expires_at > now() ORDER BY node`, names.CommandGroup)
	if err != nil {
		return 0, nil, err
	}
	live, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstanceLevel, error) {
		var il InstanceLevel
		return il, r.Scan(&il.InstanceID, &il.Level)
	})
	return level, live, err
}

// SetFeatureLevel raises (or lowers) the cluster's feature level. Raising
// it is refused while a live command instance does not understand the new
// level; lowering it is allowed (events already emitted stay in the log,
// so lower it only to undo a raise nothing used yet).
func SetFeatureLevel(ctx context.Context, pool *pgxpool.Pool, names schemas.Names, level int) error {
	if level < 1 {
		return errors.New("feature levels start at 1")
	}
	st := &snapshotStore{pool: pool, topic: names.Rooms}
	if err := st.migrate(ctx); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Serialise with instances taking leases (they read the level).
		if _, err := tx.Exec(ctx, `LOCK TABLE command_node_leases IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var behind []int
		rows, err := tx.Query(ctx, `SELECT node FROM command_node_leases
			WHERE scope = $1 AND expires_at > now() AND level < $2 ORDER BY node`, names.CommandGroup, level)
		if err != nil {
			return err
		}
		if behind, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
			return err
		}
		if len(behind) > 0 {
			hint := "upgrade them first"
			if level >= instanceTxnLevel {
				hint += "; an instance whose build knows the level advertises it only once its principal may use " +
					"its instance transactional id (run `happychat acls` as the setup principal; the instance's log names the id)"
			}
			return fmt.Errorf("command instances %v run a build below feature level %d: %s", behind, level, hint)
		}
		_, err = tx.Exec(ctx, `INSERT INTO command_features (scope, level) VALUES ($1, $2)
			ON CONFLICT (scope) DO UPDATE SET level = EXCLUDED.level`, names.CommandGroup, level)
		return err
	})
}

// supportedLevel is the feature level this build understands.
func (s *Service) supportedLevel() int {
	if s.cfg.hooks.level != 0 {
		return s.cfg.hooks.level
	}
	return schemas.FeatureLevel
}

// refreshLevel reads the cluster's feature level; a level above this
// build's stops the instance.
func (s *Service) refreshLevel(ctx context.Context) error {
	level, err := clusterLevel(ctx, s.cfg.Store, s.cfg.Names.CommandGroup)
	if err != nil {
		if s.level.Load() == 0 {
			return err
		}
		s.log.Warn("cluster feature level not refreshed", "err", err)
		return nil
	}
	if level > s.supportedLevel() {
		return fmt.Errorf("%w: cluster %d, build %d: run a newer build", errFeatureLevel, level, s.supportedLevel())
	}
	s.level.Store(int32(level))
	s.metrics.featureLevel.Set(float64(level))
	if level < instanceTxnLevel {
		s.probeInstanceGrant(ctx)
	}
	return nil
}

// checkEmit refuses an event the cluster's feature level does not allow
// yet (some instance might not be able to read it): its type, or this
// payload (a send with a reply or mentions below level 3).
func (s *Service) checkEmit(ev schemas.Event) error {
	if err := schemas.Events.CheckEmitEvent(ev, int(s.level.Load())); err != nil {
		return unavailable("this feature is not enabled yet (cluster feature level), retry later")
	}
	return nil
}
