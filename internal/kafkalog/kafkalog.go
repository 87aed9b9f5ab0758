// Package kafkalog routes franz-go's log lines to a slog.Logger: the one
// adapter every Kafka client of the system logs through, whether cmd wires
// it or a role package wraps it (command's commit watch).
package kafkalog

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// New returns a franz-go logger writing to l, prefixed "kafka: ". It asks
// franz-go for its info lines only when l logs debug, since franz-go's info
// is chatty (every transaction, every rebalance step).
func New(l *slog.Logger) kgo.Logger { return adapter{l} }

type adapter struct{ l *slog.Logger }

func (a adapter) Level() kgo.LogLevel {
	if a.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (a adapter) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var l slog.Level
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelInfo:
		l = slog.LevelInfo
	default:
		l = slog.LevelDebug
	}
	a.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}
