package realtime

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/tokentest"
	"happychat/internal/wstest"
	"happychat/schemas"
)

// BenchmarkFanOut measures one room event's way from the hub to every
// member's client, over each transport: the shared frame, the queue, the
// writer and the transport's bytes, on real loopback connections (clients
// decoding every frame run on the same machine, so their cost is in the
// figure too). No Kafka: the benchmark feeds the hub directly. One op is
// one event delivered to all of the room's clients.
//
//	go test -run '^$' -bench FanOut -benchtime 2000x ./realtime/
func BenchmarkFanOut(b *testing.B) {
	for _, transport := range []string{"ws", "sse"} {
		for _, members := range []int{1, 20} {
			b.Run(fmt.Sprintf("%s/members=%d", transport, members), func(b *testing.B) {
				benchFanOut(b, transport, members)
			})
		}
	}
}

// batchEvents is how many events the benchmark dispatches before it waits
// for every client: fewer than a queue holds, so no client is cut.
const batchEvents = 64

func benchFanOut(b *testing.B, transport string, n int) {
	const room = schemas.ID(42)
	keys := testKeys(b)
	var ms []schemas.Member
	for i := range n {
		ms = append(ms, schemas.Member{UserID: schemas.ID(100 + i), Nickname: fmt.Sprintf("u%d", i)})
	}
	s, srv := kafkalessService(b, &staticCommands{members: map[schemas.ID][]schemas.Member{room: ms}}, func(c *Config) {
		c.MaxConnsPerUser = 1
	})
	reached := make(chan struct{}, n)
	for _, m := range ms {
		tok := tokentest.Issue(b, keys, m.UserID, m.Nickname)
		next := benchClient(b, srv.URL, transport, tok)
		if f, err := next(); err != nil || f.Type != typePresence {
			b.Fatalf("first frame %v, %v", f, err)
		}
		go func() {
			for {
				f, err := next()
				if err != nil {
					return
				}
				if seq := f.EventSeq(); seq > 0 && (seq%batchEvents == 0 || seq == int64(b.N)) {
					reached <- struct{}{}
				}
			}
		}()
	}
	text := strings.Repeat("a message of a typical length ", 3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		s.hub.dispatch(schemas.Envelope{ID: schemas.ID(1000 + i), RoomID: room, UserID: ms[0].UserID, Seq: int64(i),
			OccurredAt: time.Now(), Payload: schemas.MessageSent{Text: text, ClientMsgID: fmt.Sprint(i), Nickname: ms[0].Nickname}})
		if i%batchEvents == 0 || i == b.N {
			for range n {
				<-reached
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n), "deliveries/op")
}

// benchClient opens a client over transport and returns its frame reader.
func benchClient(b *testing.B, base, transport, tok string) func() (wstest.Frame, error) {
	switch transport {
	case "ws":
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/ws?room=42&token="+tok, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = ws.Close() })
		return func() (wstest.Frame, error) {
			mt, data, err := ws.ReadMessage()
			if err != nil {
				return wstest.Frame{}, err
			}
			return wstest.Decode(mt, data)
		}
	default:
		resp, err := http.Get(base + "/v1/rooms/42/events?token=" + tok) //nolint:noctx // a benchmark's stream
		if err != nil {
			b.Fatalf("stream: %v", err)
		}
		b.Cleanup(func() { _ = resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("stream: status %d", resp.StatusCode)
		}
		sse := wstest.NewSSE(resp.Body)
		return func() (wstest.Frame, error) { return sse.Next(time.Minute) }
	}
}
