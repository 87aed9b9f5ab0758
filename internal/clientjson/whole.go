package clientjson

import (
	"errors"
	"math"
	"strconv"
)

// Whole is an integer field of a client's JSON body that also takes an
// integral number written as a float (346.0, 3.46e2): JSON Schema counts
// those as integers, so a client (or a schema-driven fuzzer) may send them
// for a field the contract declares `type: integer`. Anything else that is
// not a whole number is refused like an int64 field ("a whole number in
// range").
type Whole int64

// maxExact is the largest magnitude a float64 holds exactly.
const maxExact = 1 << 53

var errNotWhole = errors.New("not a whole number in range")

// UnmarshalJSON implements json.Unmarshaler.
func (w *Whole) UnmarshalJSON(b []byte) error {
	s := string(b)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*w = Whole(n)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxExact {
		return errNotWhole
	}
	*w = Whole(f)
	return nil
}
