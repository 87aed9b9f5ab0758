package openapi

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
)

// The copy in docs/ is what readers open; it must not drift from the
// embedded canonical copy.
func TestDocsCopyIsIdentical(t *testing.T) {
	docs, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatalf("read docs/openapi.yaml: %v", err)
	}
	if !bytes.Equal(docs, Spec()) {
		t.Fatal("docs/openapi.yaml differs from query/openapi/openapi.yaml: edit the latter, then run go generate ./query/openapi")
	}
}

// Every schema the document names must compile (dangling $refs, bad
// patterns and typos in keywords show up here, not in a service's test).
func TestEverySchemaCompiles(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Operations()) < 15 {
		t.Fatalf("only %d operations: %v", len(d.Operations()), d.Operations())
	}
	paths := d.root["paths"].(map[string]any)
	n := 0
	for p, item := range paths {
		for m, op := range item.(map[string]any) {
			responses, _ := op.(map[string]any)["responses"].(map[string]any)
			for code, r := range responses {
				ptr := "#/paths/" + escape(p) + "/" + m + "/responses/" + escape(code)
				resp, rptr, err := d.deref(r.(map[string]any), ptr)
				if err != nil {
					t.Fatalf("%s: %v", ptr, err)
				}
				content, _ := resp["content"].(map[string]any)
				for mt, media := range content {
					for _, key := range []string{"schema", "x-item-schema"} {
						if _, ok := media.(map[string]any)[key]; !ok {
							continue
						}
						if _, err := d.schema(rptr + "/content/" + escape(mt) + "/" + key); err != nil {
							t.Errorf("%s %s %s %s: %v", m, p, code, mt, err)
						}
						n++
					}
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("compiled only %d schemas", n)
	}
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}}
}

func TestValidateResponse(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	const room = `{"id":"7265401934405767168","title":"Happy cats","description":"","status":"open",
		"member_count":3,"capacity":20,"message_count":1250,"last_message_at":null,
		"created_at":"2026-11-22T21:21:13.123Z"}`
	const msgText = `{"id":"7265401934405767169","room_id":"7265401934405767168","user_id":"7265401934405767100",
		"nickname":"toracle","body":"hi 🐱","sent_at":"2026-11-22T21:21:13.123Z",
		"client_msg_id":"5f0c","effects":[],"seq":41}`
	oneLine := strings.NewReplacer("\n", "", "\t", "")
	msg := oneLine.Replace(msgText)
	seq := func(h http.Header) http.Header { h.Set("X-Projected-Seq", "41"); return h }
	ndjson := http.Header{"Content-Type": {"application/x-ndjson"}, "X-Projected-Seq": {"3"}}
	cases := []struct {
		name         string
		method, path string
		status       int
		header       http.Header
		body         string
		wantErr      string
	}{
		{"room list", "GET", "/v1/rooms", 200, jsonHeader(), `{"rooms":[` + room + `]}`, ""},
		{"room with unread", "GET", "/v1/rooms", 200, jsonHeader(),
			`{"rooms":[` + strings.Replace(room, `"open"`, `"open","unread":4`, 1) + `]}`, ""},
		{"room field missing", "GET", "/v1/rooms", 200, jsonHeader(), `{"rooms":[{"id":"1"}]}`, "missing"},
		{"numeric id", "GET", "/v1/rooms/:id", 200, jsonHeader(),
			strings.Replace(room, `"7265401934405767168"`, `7265401934405767168`, 1), "string"},
		{"members required", "GET", "/v1/rooms/:id", 200, jsonHeader(), room, "members"},
		{"with members", "GET", "/v1/rooms/:id", 200, jsonHeader(),
			strings.Replace(room, `{"id"`, `{"members":[{"user_id":"5","nickname":"x","joined_at":"2026-11-22T21:21:13.123Z"}],"id"`, 1), ""},
		{"error envelope", "GET", "/v1/rooms/:id", 404, jsonHeader(), `{"error":{"code":"not_found","message":"no such room"}}`, ""},
		{"error code must fit the status", "GET", "/v1/rooms/:id", 404, jsonHeader(), `{"error":{"code":"bad_request","message":"x"}}`, "not_found"},
		{"undocumented status", "GET", "/v1/rooms/:id", 418, jsonHeader(), `{}`, "status not documented"},
		{"undocumented route", "GET", "/v1/nope", 200, jsonHeader(), `{}`, "not in the document"},
		{"wrong content type", "GET", "/v1/rooms", 200, http.Header{"Content-Type": {"text/plain"}}, `x`, "content type"},
		{"backward page", "GET", "/v1/rooms/:id/messages", 200, seq(jsonHeader()), `{"messages":[` + msg + `],"next_before":null}`, ""},
		{"forward page", "GET", "/v1/rooms/:id/messages", 200, seq(jsonHeader()), `{"messages":[],"next_after":"12"}`, ""},
		{"page without seq header", "GET", "/v1/rooms/:id/messages", 200, jsonHeader(), `{"messages":[],"next_before":null}`, "X-Projected-Seq"},
		{"bad time", "GET", "/v1/rooms/:id/messages", 200, seq(jsonHeader()),
			`{"messages":[` + strings.Replace(msg, ".123Z", "Z", 1) + `],"next_before":null}`, "sent_at"},
		{"export", "GET", "/v1/rooms/:id/messages/export", 200, ndjson, msg + "\n" + msg + "\n", ""},
		{"export bad line", "GET", "/v1/rooms/:id/messages/export", 200, ndjson, msg + "\n{}\n", "line 2"},
		{"rate limited needs Retry-After", "POST", "/v1/rooms/:id/messages", 429, jsonHeader(), `{"error":{"code":"rate_limited","message":"slow down"}}`, "Retry-After"},
		{"healthz", "GET", "/healthz", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "ok\n", ""},
		{"activity", "GET", "/v1/analytics/activity", 200, jsonHeader(), `{"buckets":[{"start":"2026-11-22T21:00:00.000Z","messages":3,"senders":2}]}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := d.ValidateResponse(tc.method, tc.path, tc.status, tc.header, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	got := d.Missing([]Route{
		{"GET", "/v1/rooms/:id/messages"}, {"HEAD", "/v1/rooms"}, {"POST", "/v1/rooms/:id/read"},
		{"DELETE", "/v1/rooms/:id"}, {"GET", "/v1/secret"},
	})
	want := []string{"DELETE /v1/rooms/{id}", "GET /v1/secret"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Missing = %v, want %v", got, want)
	}
}
