package realtime

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWireFrameHeader(t *testing.T) {
	tests := []struct {
		name string
		op   byte
		n    int
		head []byte
	}{
		{"empty ping", opPing, 0, []byte{0x89, 0}},
		{"short text", opText, 5, []byte{0x81, 5}},
		{"longest 7-bit length", opText, 125, []byte{0x81, 125}},
		{"shortest 16-bit length", opText, 126, []byte{0x81, 126, 0, 126}},
		{"longest 16-bit length", opText, 0xFFFF, []byte{0x81, 126, 0xFF, 0xFF}},
		{"64-bit length", opText, 0x10000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"pong", opPong, 3, []byte{0x8A, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'x'}, tt.n)
			got := wireFrame(tt.op, payload)
			if !bytes.Equal(got[:len(tt.head)], tt.head) {
				t.Fatalf("header % x, want % x", got[:len(tt.head)], tt.head)
			}
			if wireHeaderLen(tt.n) != len(tt.head) || len(got) != len(tt.head)+tt.n {
				t.Fatalf("lengths: header %d frame %d", wireHeaderLen(tt.n), len(got))
			}
		})
	}
}

// A real WebSocket client reads what wireFrame encodes, several frames
// written with one writev as the writer does.
func TestWireFramesReadByAClient(t *testing.T) {
	bodies := []string{"a", strings.Repeat("b", 200), strings.Repeat("c", 70000), ""}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var bufs net.Buffers
		for _, b := range bodies {
			bufs = append(bufs, wireFrame(opText, []byte(b)))
		}
		bufs = append(bufs, pingFrame.wire)
		if _, err := bufs.WriteTo(ws.NetConn()); err != nil {
			t.Error(err)
		}
		_, _, _ = ws.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	pinged := make(chan struct{})
	ws.SetPingHandler(func(string) error { close(pinged); return nil })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, want := range bodies {
		mt, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if mt != websocket.TextMessage || string(got) != want {
			t.Fatalf("frame %d: type %d, %d bytes, want %d", i, mt, len(got), len(want))
		}
	}
	go func() { _, _, _ = ws.ReadMessage() }()
	select {
	case <-pinged:
	case <-time.After(10 * time.Second):
		t.Fatal("the ping was not read")
	}
}
