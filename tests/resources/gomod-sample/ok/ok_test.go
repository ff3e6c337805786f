package ok

import "testing"

func TestPass(t *testing.T) { if Add(1, 2) != 3 { t.Fatal("bad") } }
func TestFail(t *testing.T) { t.Log("about to fail"); t.Errorf("Add(2, 2) = %d, want 5", Add(2, 2)) }
func TestSkip(t *testing.T) { t.Skip("not today") }
func TestCases(t *testing.T) {
	for _, c := range []string{"good-one", "bad-one"} {
		t.Run(c, func(t *testing.T) { if c == "bad-one" { t.Error("case failed") } })
	}
}
