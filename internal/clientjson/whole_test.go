package clientjson

import (
	"strings"
	"testing"
)

func TestWholeTakesIntegralFloats(t *testing.T) {
	var in struct {
		N Whole `json:"n"`
	}
	for body, want := range map[string]Whole{`{"n":346}`: 346, `{"n":346.0}`: 346, `{"n":3.46e2}`: 346, `{"n":-5}`: -5, `{"n":0.0}`: 0} {
		in.N = 0
		if err := Decode("body", []byte(body), &in); err != nil || in.N != want {
			t.Errorf("%s: got %d, %v; want %d", body, in.N, err, want)
		}
	}
	for _, body := range []string{`{"n":346.5}`, `{"n":"346"}`, `{"n":1e300}`, `{"n":true}`, `{"n":1e17}`} {
		err := Decode("body", []byte(body), &in)
		if err == nil || !strings.Contains(err.Error(), `"n"`) || !strings.Contains(err.Error(), "whole number") {
			t.Errorf("%s: %v, want a refusal naming n and the rule", body, err)
		}
	}
}
