package flaky

import (
	"flag"
	"strings"
	"testing"
)

// TestOrderDependent passes only when it is run by name, as a rerun of failed tests runs it: a
// stand-in for a test that depends on what ran before it.
func TestOrderDependent(t *testing.T) {
	if !strings.Contains(flag.Lookup("test.run").Value.String(), "TestOrderDependent") {
		t.Fatal("fails unless it is run by name")
	}
}

func TestAlwaysFails(t *testing.T) {
	t.Fatal("fails every time")
}

func TestPasses(t *testing.T) {}
