package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func requests(t *testing.T, lines ...string) *bytes.Buffer {
	t.Helper()
	return bytes.NewBufferString(strings.Join(lines, "\n") + "\n")
}

func responses(t *testing.T, out *bytes.Buffer) map[int64]response {
	t.Helper()
	found := map[int64]response{}
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		var r response
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			t.Fatalf("response %q: %v", scanner.Text(), err)
		}
		found[r.ID] = r
	}
	return found
}

func TestServePutThenGetAndMiss(t *testing.T) {
	dir := t.TempDir()
	action, output := bytes.Repeat([]byte{0xab}, 32), bytes.Repeat([]byte{0xcd}, 32)
	body := []byte("compiled package")
	put, _ := json.Marshal(request{ID: 1, Command: "put", ActionID: action, OutputID: output, BodySize: int64(len(body))})
	encoded, _ := json.Marshal(base64.StdEncoding.EncodeToString(body))
	get, _ := json.Marshal(request{ID: 2, Command: "get", ActionID: action})
	miss, _ := json.Marshal(request{ID: 3, Command: "get", ActionID: bytes.Repeat([]byte{0x01}, 32)})

	var out bytes.Buffer
	if err := serve(dir, requests(t, string(put), string(encoded)), &out); err != nil {
		t.Fatal(err)
	}
	first := responses(t, &out)
	if strings.Join(first[0].KnownCommands, ",") != "get,put,close" {
		t.Fatalf("capabilities: %+v", first[0])
	}
	stored, err := os.ReadFile(first[1].DiskPath)
	if err != nil || string(stored) != string(body) {
		t.Fatalf("put stored %q at %q: %v", stored, first[1].DiskPath, err)
	}

	old := time.Now().Add(-time.Hour)
	os.Chtimes(first[1].DiskPath, old, old)
	out.Reset()
	if err := serve(dir, requests(t, string(get), string(miss), `{"ID":4,"Command":"close"}`), &out); err != nil {
		t.Fatal(err)
	}
	second := responses(t, &out)
	hit := second[2]
	if hit.Miss || hit.DiskPath != first[1].DiskPath || hit.Size != int64(len(body)) || !bytes.Equal(hit.OutputID, output) || hit.Time == nil {
		t.Fatalf("get: %+v", hit)
	}
	if info, _ := os.Stat(hit.DiskPath); time.Since(info.ModTime()) > time.Minute {
		t.Fatalf("a get did not mark the output used: %v", info.ModTime())
	}
	if !second[3].Miss {
		t.Fatalf("unknown action: %+v", second[3])
	}
	if _, ok := second[4]; !ok {
		t.Fatal("close got no reply")
	}
}

func TestGetIsAMissWhenTheOutputIsGone(t *testing.T) {
	dir := t.TempDir()
	action, output := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)
	s := store{dir}
	res := s.put(request{ID: 1, ActionID: action, OutputID: output, BodySize: 1}, []byte("x"))
	os.Remove(res.DiskPath)
	if got := s.get(request{ID: 2, ActionID: action}); !got.Miss {
		t.Fatalf("get after the output was trimmed: %+v", got)
	}
}

func write(t *testing.T, path string, size int, age time.Duration, now time.Time) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	when := now.Add(-age)
	os.Chtimes(path, when, when)
}

func TestTrimRemovesTheLeastRecentlyUsedUntilUnderTheLimit(t *testing.T) {
	cache, modules := t.TempDir(), t.TempDir()
	now := time.Now()
	for i := 0; i < 10; i++ {
		write(t, filepath.Join(cache, fmt.Sprintf("%02x", i), fmt.Sprintf("f%d-d", i)), 100, time.Duration(10-i)*time.Hour, now)
	}
	write(t, filepath.Join(cache, "ff", "fresh-d"), 100, time.Minute, now) // within the grace
	write(t, filepath.Join(modules, "m.zip"), 300, 30*time.Hour, now)

	write(t, filepath.Join(cache, "tools", "cacheprog"), 100, 90*time.Hour, now) // kept whatever its age

	report, err := trim([]string{cache}, []string{modules}, []string{filepath.Join(cache, "tools")}, 1200, 10*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	// 1100 to trim, 100 kept + 300 of modules: down to 1080 (the low-water mark) removes the five oldest.
	if report.Before != 1100 || report.Also != 400 || report.RemovedFiles != 5 || report.After != 600 {
		t.Fatalf("report: %+v", report)
	}
	for i := 0; i < 10; i++ {
		_, err := os.Stat(filepath.Join(cache, fmt.Sprintf("%02x", i), fmt.Sprintf("f%d-d", i)))
		if removed := os.IsNotExist(err); removed != (i < 5) {
			t.Fatalf("file %d (age %dh): removed=%v", i, 10-i, removed)
		}
	}
	if _, err := os.Stat(filepath.Join(modules, "m.zip")); err != nil {
		t.Fatal("the module cache is counted, never trimmed")
	}
	if _, err := os.Stat(filepath.Join(cache, "tools", "cacheprog")); err != nil {
		t.Fatal("a skipped directory is counted, never trimmed")
	}
}

func TestTrimNeverRemovesWhatWasUsedWithinTheGrace(t *testing.T) {
	cache := t.TempDir()
	now := time.Now()
	write(t, filepath.Join(cache, "aa", "busy-d"), 500, time.Minute, now)
	report, err := trim([]string{cache}, nil, nil, 100, 10*time.Minute, now)
	if err != nil || report.RemovedFiles != 0 || report.ProtectedBytes != 500 {
		t.Fatalf("report %+v, err %v", report, err)
	}
}

func TestNoLimitRemovesNothing(t *testing.T) {
	cache := t.TempDir()
	now := time.Now()
	write(t, filepath.Join(cache, "aa", "old-d"), 500, 100*time.Hour, now)
	if report, _ := trim([]string{cache}, nil, nil, 0, 0, now); report.RemovedFiles != 0 || report.Before != 500 {
		t.Fatalf("report %+v", report)
	}
}
