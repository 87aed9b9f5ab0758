package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"

	"happychat/schemas"
)

// maxFindings bounds the findings kept per scenario in the report.
const maxFindings = 50

// Fault is one fault the suite injected.
type Fault struct {
	Kind   string `json:"kind"`   // sigkill, sigstop, sigterm, server_stop, kafka_sigkill, poison
	Target string `json:"target"` // a process or a server
	// At is when it began, relative to the scenario's start; Duration how
	// long it lasted (0 for a kill that is not undone).
	AtMS       int64 `json:"at_ms"`
	DurationMS int64 `json:"duration_ms"`
	// RecoveryMS: from the fault's end until every process answered
	// /readyz, every room of the scenario acknowledged a send again and
	// every socket it dropped was resumed (-1: not measured).
	RecoveryMS int64 `json:"recovery_ms"`

	at, end, ready, resumed time.Time
}

// DeliveryStats summarise the scenario's sockets.
type DeliveryStats struct {
	Subscribers int     `json:"subscribers"`
	Frames      int     `json:"frames"`
	Reconnects  int     `json:"reconnects"`
	P50MS       float64 `json:"send_to_deliver_p50_ms"`
	P99MS       float64 `json:"send_to_deliver_p99_ms"`
}

// Result is one scenario's report.
type Result struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Tally
	// The three figures that must be 0.
	LostAcknowledged    int `json:"lost_acknowledged"`
	Duplicates          int `json:"duplicates"`
	InvariantViolations int `json:"invariant_violations"`

	Findings        []Finding `json:"findings"`
	Faults          []Fault   `json:"faults"`
	RecoveryMS      int64     `json:"recovery_ms"`
	ProjectionLagMS int64     `json:"projection_lag_ms"`
	// CatchUpMS is, for a store fault, the time from the store's return
	// until both views equal the log (the load ran on meanwhile); -1 for
	// the others.
	CatchUpMS int64 `json:"catch_up_ms"`
	// WriteUnavailableMS is the longest time one of the scenario's rooms
	// (so its partition) acknowledged no send while sends to it were
	// outstanding (unavailability.go); -1 without sends. The interval is
	// WriteUnavailableFromMS.. after the scenario's start, in room
	// WriteUnavailableRoom.
	WriteUnavailableMS     int64      `json:"write_unavailable_ms"`
	WriteUnavailableFromMS int64      `json:"write_unavailable_from_ms"`
	WriteUnavailableRoom   schemas.ID `json:"write_unavailable_room,omitzero"`
	// WriteUnavailableByPartitionMS is the same figure per partition of the
	// rooms topic (the worst of its rooms), for the partitions sent to.
	WriteUnavailableByPartitionMS map[int32]int64 `json:"write_unavailable_by_partition_ms,omitempty"`
	// FaultSendP99MS is the p99 latency (first attempt to acknowledgement)
	// of the FaultSends acknowledged sends begun while a fault lasted: from
	// the first fault's start to the last one's end or recovery; -1
	// without faults.
	FaultSendP99MS float64       `json:"fault_send_p99_ms"`
	FaultSends     int           `json:"fault_sends"`
	Deliveries     DeliveryStats `json:"deliveries"`
	Notes          []string      `json:"notes"`
	DurationMS     int64         `json:"duration_ms"`
}

// Passed reports whether the three figures are 0.
func (r Result) Passed() bool {
	return r.LostAcknowledged == 0 && r.Duplicates == 0 && r.InvariantViolations == 0
}

// Report is a whole run.
type Report struct {
	Version    string    `json:"version"`
	Size       string    `json:"size"`
	Started    string    `json:"started"`
	DurationMS int64     `json:"duration_ms"`
	Topics     string    `json:"topic_prefix"`
	Database   string    `json:"database"`
	WorkDir    string    `json:"work_dir"`
	Passed     bool      `json:"passed"`
	Scenarios  []*Result `json:"scenarios"`
}

// addFindings sorts findings into the three figures and keeps the first
// maxFindings of them.
func (r *Result) addFindings(fs ...Finding) {
	for _, f := range fs {
		switch f.Kind {
		case KindLost:
			r.LostAcknowledged++
		case KindDuplicate:
			r.Duplicates++
		default:
			r.InvariantViolations++
		}
		if len(r.Findings) < maxFindings {
			r.Findings = append(r.Findings, f)
		}
	}
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Line is the one-line summary of a scenario.
func (r Result) Line() string {
	verdict := "ok  "
	if !r.Passed() {
		verdict = "FAIL"
	}
	rec := "-"
	if r.RecoveryMS >= 0 && len(r.Faults) > 0 {
		rec = fmtMS(r.RecoveryMS)
	}
	lag := "-"
	if r.ProjectionLagMS >= 0 {
		lag = fmtMS(r.ProjectionLagMS)
	}
	noWrite := "-"
	if r.WriteUnavailableMS >= 0 {
		noWrite = fmtMS(r.WriteUnavailableMS)
	}
	p99 := "-"
	if r.FaultSendP99MS >= 0 {
		p99 = fmtMS(int64(r.FaultSendP99MS))
	}
	catchUp := ""
	if r.CatchUpMS >= 0 {
		catchUp = fmt.Sprintf(" | catch-up %7s", fmtMS(r.CatchUpMS))
	}
	return fmt.Sprintf("%s %-22s sends %6d acked %6d failed %4d indeterminate %3d | lost acked %d | duplicates %d | invariant violations %d | faults %2d | recovery %7s | no write %7s | fault p99 %7s | projection lag %7s%s | %s",
		verdict, r.Name, r.Attempted, r.Acknowledged, r.Failed, r.Indeterminate,
		r.LostAcknowledged, r.Duplicates, r.InvariantViolations, len(r.Faults), rec, noWrite, p99, lag, catchUp, fmtMS(r.DurationMS))
}

func fmtMS(v int64) string {
	if v < 1000 {
		return fmt.Sprintf("%dms", v)
	}
	return fmt.Sprintf("%.1fs", float64(v)/1000)
}

// writeDetails prints a failed scenario's findings and notes.
func (r Result) writeDetails(w io.Writer) {
	for _, f := range r.Findings {
		room := ""
		if f.Room != 0 {
			room = " room " + f.Room.String()
		}
		fmt.Fprintf(w, "    %s%s: %s\n", f.Kind, room, indent(f.Detail))
	}
	if n := r.LostAcknowledged + r.Duplicates + r.InvariantViolations; n > len(r.Findings) {
		fmt.Fprintf(w, "    … %d more in the JSON report\n", n-len(r.Findings))
	}
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

// roomIDs lists the ids of rooms.
func roomIDs(rooms []*room) []schemas.ID {
	out := make([]schemas.ID, len(rooms))
	for i, r := range rooms {
		out[i] = r.id
	}
	return out
}
