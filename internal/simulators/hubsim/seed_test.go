package hubsim

import (
	"path/filepath"
	"testing"
)

func TestLoadSeed(t *testing.T) {
	seed, err := LoadSeed(filepath.Join("testdata", "seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(seed.Workspaces); got != 2 {
		t.Fatalf("workspaces = %d, want 2", got)
	}
	s := New(Options{Seed: seed})
	if got := len(s.Customers("ws-test")); got != 3 {
		t.Fatalf("customers = %d, want 3", got)
	}
}
