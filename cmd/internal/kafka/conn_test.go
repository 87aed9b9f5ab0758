package kafka

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"happychat/cmd/internal/config"
)

// TestRedirectKeepsTheBrokersName: under CHAT_KAFKA_DIAL_MAP with TLS, the
// connection goes to the mapped address but the certificate is checked
// against the broker's own name, as without the map: a proxy in between
// changes where bytes go, not whom the client trusts.
func TestRedirectKeepsTheBrokersName(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()                                   // its certificate names example.com
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsConfig(caFile)
	if err != nil {
		t.Fatal(err)
	}
	to := strings.TrimPrefix(srv.URL, "https://")
	dial := redirect(map[string]string{"example.com:9093": to, "other.test:9093": to}, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := dial(ctx, "tcp", "example.com:9093")
	if err != nil {
		t.Fatalf("a broker named in its certificate: %v", err)
	}
	if st := conn.(*tls.Conn).ConnectionState(); st.ServerName != "example.com" || !st.HandshakeComplete {
		t.Errorf("handshake %+v", st)
	}
	_ = conn.Close()
	if conn, err := dial(ctx, "tcp", "other.test:9093"); err == nil {
		_ = conn.Close()
		t.Error("a certificate that does not name the broker was accepted")
	}
}

func TestConnectionRefusesABadCA(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]config.KafkaAuth{
		"no PEM":  {TLS: true, CAFile: empty},
		"missing": {TLS: true, CAFile: empty + ".nope"},
	} {
		if _, err := Connection(auth, nil); err == nil || !strings.Contains(err.Error(), "CHAT_KAFKA_TLS_CA") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if opts, err := Connection(config.KafkaAuth{}, nil); err != nil || len(opts) != 0 {
		t.Errorf("plaintext: %d options, %v; want none", len(opts), err)
	}
}
