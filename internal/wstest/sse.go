package wstest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrTimeout: no event arrived in time.
var ErrTimeout = errors.New("wstest: no event in time")

// SSE reads a Server-Sent Events stream (GET /v1/rooms/{id}/events) as its
// tests see it: each event's data decoded as a Frame, with its id and event
// name. Comment lines (the keepalive) are counted, not returned.
type SSE struct {
	body   io.ReadCloser
	events chan Frame
	err    error // set before events is closed
	// Comments counts the comment lines read so far; read it only after
	// Next returned an error (the reader has stopped).
	Comments int
}

// NewSSE starts reading body.
func NewSSE(body io.ReadCloser) *SSE {
	s := &SSE{body: body, events: make(chan Frame, 1024)}
	go s.run()
	return s
}

func (s *SSE) run() {
	defer close(s.events)
	r := bufio.NewReaderSize(s.body, 64<<10)
	var id, event, data string
	hasData := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			s.err = err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if !hasData {
				id, event = "", ""
				continue
			}
			var f Frame
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				s.err = fmt.Errorf("event data %q: %w", data, err)
				return
			}
			f.Raw, f.SSEID, f.SSEEvent = []byte(data), id, event
			s.events <- f
			id, event, data, hasData = "", "", "", false
		case strings.HasPrefix(line, ":"):
			s.Comments++
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				event = value
			case "data":
				if hasData {
					data += "\n"
				}
				data += value
				hasData = true
			}
		}
	}
}

// Next returns the next event within timeout: ErrTimeout when none came,
// the stream's read error (io.EOF at its end) once it ended.
func (s *SSE) Next(timeout time.Duration) (Frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f, ok := <-s.events:
		if !ok {
			return Frame{}, s.err
		}
		return f, nil
	case <-t.C:
		return Frame{}, ErrTimeout
	}
}

// Close ends the stream.
func (s *SSE) Close() error { return s.body.Close() }
