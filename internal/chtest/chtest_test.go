package chtest

import (
	"slices"
	"testing"
)

func TestStatements(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"empty", "", nil},
		{"one without a semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two", "CREATE TABLE a (x UInt8) ENGINE = Memory;\nSELECT 1;\n", []string{"CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1"}},
		{"comment lines", "-- one; two\nSELECT 1; -- three;\n-- four\n", []string{"SELECT 1"}},
		{"comment inside a statement", "SELECT -- the answer\n  42;", []string{"SELECT \n  42"}},
		{"only comments and blanks", "-- a;\n\n ; ;\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Statements(tc.sql); !slices.Equal(got, tc.want) {
				t.Errorf("Statements(%q) = %q, want %q", tc.sql, got, tc.want)
			}
		})
	}
}
