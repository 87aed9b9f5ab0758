package chaos

import "testing"

// TestFreeAddrNeverRepeats: a port picked for one process is never picked
// for another, even once nothing listens on it (1,000 picks among 7,000
// ports would repeat about 70 times if picks were independent).
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		a, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
	}
}
