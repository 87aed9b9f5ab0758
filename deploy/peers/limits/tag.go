package main

import (
	"crypto/rand"
	"encoding/hex"
	"log"
	"strconv"
	"strings"
)

// runTag marks this run's messages. Each carries its ledger index k and its
// slot time t (plus w, when it was actually written); the run id keeps
// leftovers of other runs out of the figures.
type runTag struct {
	id     string // 8 hex digits
	prefix string // the first 24 characters of this run's client_msg_ids
	pad    string
}

var tag runTag

func newRunTag(pad int) runTag {
	var r [9]byte
	if _, err := rand.Read(r[:]); err != nil {
		log.Fatal(err)
	}
	h := hex.EncodeToString(r[:])
	// A UUIDv4 shape whose last group is k, for servers that check the format.
	return runTag{id: h[:8], prefix: h[:8] + "-" + h[8:12] + "-4" + h[12:15] + "-8" + h[15:18] + "-", pad: strings.Repeat("x", pad)}
}

// appendBody renders a happychat body: "t=<slot ns> k=<k> w=<write ns> run=<id> xxxx".
func (r *runTag) appendBody(b []byte, m outMsg) []byte {
	b = append(b, "t="...)
	b = strconv.AppendInt(b, m.intended, 10)
	b = append(b, " k="...)
	b = strconv.AppendInt(b, m.k, 10)
	b = append(b, " w="...)
	b = strconv.AppendInt(b, m.issued, 10)
	b = append(b, " run="...)
	b = append(b, r.id...)
	if r.pad != "" {
		b = append(b, ' ')
		b = append(b, r.pad...)
	}
	return b
}

// parseBody reads k, t and w back from a body, k = -1 if it is not this run's.
func (r *runTag) parseBody(b []byte) (k, t, w int64) {
	num := func(key string) (int64, bool) {
		if len(b) < len(key) || string(b[:len(key)]) != key {
			return 0, false
		}
		i := len(key)
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		v, ok := jsonInt(b[len(key):i])
		b = b[i:]
		return v, ok
	}
	t, ok1 := num("t=")
	k, ok2 := num(" k=")
	w, ok3 := num(" w=")
	if !ok1 || !ok2 || !ok3 || len(b) < 5+len(r.id) || string(b[:5]) != " run=" || string(b[5:5+len(r.id)]) != r.id {
		return -1, 0, 0
	}
	return k, t, w
}

func (r *runTag) appendCMID(b []byte, k int64) []byte {
	b = append(b, r.prefix...)
	h := strconv.FormatInt(k, 16)
	for range 12 - len(h) {
		b = append(b, '0')
	}
	return append(b, h...)
}

func (r *runTag) parseCMID(b []byte) int64 {
	if len(b) != len(r.prefix)+12 || string(b[:len(r.prefix)]) != r.prefix {
		return -1
	}
	k, err := strconv.ParseInt(string(b[len(r.prefix):]), 16, 64)
	if err != nil {
		return -1
	}
	return k
}

// appendData renders the peers' payload: {"k":..,"t":..,"w":..,"run":"..","p":"xxxx"}.
func (r *runTag) appendData(b []byte, m outMsg) []byte {
	b = append(b, `{"k":`...)
	b = strconv.AppendInt(b, m.k, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, m.intended, 10)
	b = append(b, `,"w":`...)
	b = strconv.AppendInt(b, m.issued, 10)
	b = append(b, `,"run":"`...)
	b = append(b, r.id...)
	b = append(b, `","p":"`...)
	b = append(b, r.pad...)
	return append(b, `"}`...)
}

// parseData reads k, t and w from a peer payload, k = -1 if not this run's.
func (r *runTag) parseData(obj []byte) (k, t, w int64) {
	var run []byte
	var okK, okT, okW bool
	members(obj, func(key, v []byte) bool {
		switch string(key) {
		case "k":
			k, okK = jsonInt(v)
		case "t":
			t, okT = jsonInt(v)
		case "w":
			w, okW = jsonInt(v)
		case "run":
			run, _ = jsonStr(v)
		}
		return true
	})
	if !okK || !okT || !okW || string(run) != r.id {
		return -1, 0, 0
	}
	return k, t, w
}
