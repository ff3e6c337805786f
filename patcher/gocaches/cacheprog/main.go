// Command cacheprog is argo-patcher's Go build cache: the go command's GOCACHEPROG, and the
// trimming that keeps argo-patcher's caches under a size limit.
//
//	cacheprog serve DIR
//	cacheprog trim -limit BYTES [-grace DURATION] [-also DIR]... [-skip DIR]... DIR...
//
// serve stores the go command's cache entries in DIR, in the layout of Go's own cache
// (DIR/xx/<action>-a maps an action ID to its output, DIR/xx/<output>-d holds the output), and
// touches both files of every entry it hands out: a file's modification time is then the last
// time a build used it, which Go's own cache only updates once an hour.
//
// trim removes the least recently used files of the DIRs until all of them, with the -also
// directories (counted, never touched: the module cache), take at most -limit bytes. Files
// under a -skip directory are counted and kept (this program's own binary); files used within
// -grace are never removed, so a build going on meanwhile keeps what it reads. It prints what
// it measured and removed as one JSON object.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		if len(os.Args) != 3 {
			usage()
		}
		err = serve(os.Args[2], os.Stdin, os.Stdout)
	case "trim":
		err = trimCommand(os.Args[2:], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cacheprog: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cacheprog serve DIR | cacheprog trim -limit BYTES [-grace DURATION] [-also DIR]... [-skip DIR]... DIR...")
	os.Exit(2)
}

// The protocol of cmd/go/internal/cacheprog (Go 1.24 on).

type request struct {
	ID       int64
	Command  string
	ActionID []byte `json:",omitempty"`
	OutputID []byte `json:",omitempty"`
	BodySize int64  `json:",omitempty"`
}

type response struct {
	ID            int64      `json:"ID"`
	Err           string     `json:",omitempty"`
	KnownCommands []string   `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

type store struct{ dir string }

func (s store) path(id []byte, suffix string) string {
	name := hex.EncodeToString(id)
	return filepath.Join(s.dir, name[:2], name+suffix)
}

func serve(dir string, in io.Reader, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s := store{dir}
	w := bufio.NewWriter(out)
	var mu sync.Mutex
	reply := func(r *response) {
		mu.Lock()
		defer mu.Unlock()
		data, _ := json.Marshal(r)
		w.Write(append(data, '\n'))
		w.Flush()
	}
	reply(&response{ID: 0, KnownCommands: []string{"get", "put", "close"}})

	decoder := json.NewDecoder(bufio.NewReaderSize(in, 1<<20))
	var pending sync.WaitGroup
	for {
		var req request
		if err := decoder.Decode(&req); err != nil {
			pending.Wait()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		var body []byte
		if req.Command == "put" && req.BodySize > 0 {
			var encoded string
			if err := decoder.Decode(&encoded); err != nil {
				return fmt.Errorf("reading the body of request %d: %w", req.ID, err)
			}
			var err error
			if body, err = base64.StdEncoding.DecodeString(encoded); err != nil {
				return fmt.Errorf("decoding the body of request %d: %w", req.ID, err)
			}
		}
		if req.Command == "close" {
			pending.Wait()
			reply(&response{ID: req.ID})
			return nil
		}
		pending.Add(1)
		go func() {
			defer pending.Done()
			var res *response
			switch req.Command {
			case "get":
				res = s.get(req)
			case "put":
				res = s.put(req, body)
			default:
				res = &response{ID: req.ID, Err: "unknown command " + req.Command}
			}
			reply(res)
		}()
	}
}

func (s store) get(req request) *response {
	entryPath := s.path(req.ActionID, "-a")
	data, err := os.ReadFile(entryPath)
	if err != nil {
		return &response{ID: req.ID, Miss: true}
	}
	fields := strings.Fields(string(data))
	if len(fields) != 5 || fields[0] != "v1" || fields[1] != hex.EncodeToString(req.ActionID) {
		return &response{ID: req.ID, Miss: true}
	}
	outputID, err1 := hex.DecodeString(fields[2])
	size, err2 := strconv.ParseInt(fields[3], 10, 64)
	putAt, err3 := strconv.ParseInt(fields[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return &response{ID: req.ID, Miss: true}
	}
	outputPath := s.path(outputID, "-d")
	info, err := os.Stat(outputPath)
	if err != nil || info.Size() != size {
		return &response{ID: req.ID, Miss: true}
	}
	now := time.Now()
	// The last use, for trim: both files, since either alone would be a miss.
	os.Chtimes(entryPath, now, now)
	os.Chtimes(outputPath, now, now)
	when := time.Unix(0, putAt)
	return &response{ID: req.ID, OutputID: outputID, Size: size, Time: &when, DiskPath: outputPath}
}

func (s store) put(req request, body []byte) *response {
	if int64(len(body)) != req.BodySize {
		return &response{ID: req.ID, Err: fmt.Sprintf("body of %d bytes, announced %d", len(body), req.BodySize)}
	}
	outputPath := s.path(req.OutputID, "-d")
	if info, err := os.Stat(outputPath); err != nil || info.Size() != int64(len(body)) {
		if err := writeAtomically(outputPath, body); err != nil {
			return &response{ID: req.ID, Err: err.Error()}
		}
	} else {
		now := time.Now()
		os.Chtimes(outputPath, now, now)
	}
	entry := fmt.Sprintf("v1 %x %x %d %d\n", req.ActionID, req.OutputID, len(body), time.Now().UnixNano())
	if err := writeAtomically(s.path(req.ActionID, "-a"), []byte(entry)); err != nil {
		return &response{ID: req.ID, Err: err.Error()}
	}
	return &response{ID: req.ID, DiskPath: outputPath}
}

// writeAtomically writes data at path through a temporary file renamed into place, so that a
// reader (another go command sharing the cache) never sees half a file.
func writeAtomically(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Trimming.

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type trimReport struct {
	Limit          int64 `json:"limit"`
	Before         int64 `json:"before"`
	After          int64 `json:"after"`
	Also           int64 `json:"also"`
	RemovedFiles   int   `json:"removed_files"`
	RemovedBytes   int64 `json:"removed_bytes"`
	ProtectedBytes int64 `json:"protected_bytes"`
}

type file struct {
	path  string
	size  int64
	mtime time.Time
}

func trimCommand(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("trim", flag.ContinueOnError)
	limit := flags.Int64("limit", 0, "bytes the directories may take together (0: no limit)")
	grace := flags.Duration("grace", 10*time.Minute, "never remove a file used this recently")
	var also, skip listFlag
	flags.Var(&also, "also", "a directory counted towards the limit, never trimmed (repeatable)")
	flags.Var(&skip, "skip", "a directory inside a DIR whose files are counted and kept (repeatable)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	report, err := trim(flags.Args(), also, skip, *limit, *grace, time.Now())
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(report)
}

// The low-water mark: a trim goes this far below the limit, so that the next release does not
// trim again at once.
const lowWater = 0.9

func trim(dirs, also, skip []string, limit int64, grace time.Duration, now time.Time) (trimReport, error) {
	report := trimReport{Limit: limit}
	for _, dir := range also {
		size, err := du(dir)
		if err != nil {
			return report, err
		}
		report.Also += size
	}
	var files []file
	for _, dir := range dirs {
		found, err := list(dir)
		if err != nil {
			return report, err
		}
		for _, f := range found {
			if under(f.path, skip) {
				report.Also += f.size
			} else {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		report.Before += f.size
	}
	total := report.Before + report.Also
	if limit > 0 && total > limit {
		target := int64(float64(limit) * lowWater)
		sort.Slice(files, func(i, j int) bool { return files[i].mtime.Before(files[j].mtime) })
		for _, f := range files {
			if total <= target {
				break
			}
			if now.Sub(f.mtime) < grace {
				report.ProtectedBytes += f.size
				continue
			}
			// Used since it was listed (by a build going on meanwhile): it stays.
			if info, err := os.Stat(f.path); err != nil || info.ModTime().After(f.mtime) {
				continue
			}
			if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				continue
			}
			total -= f.size
			report.RemovedFiles++
			report.RemovedBytes += f.size
		}
	}
	report.After = report.Before - report.RemovedBytes
	return report, nil
}

func under(path string, dirs []string) bool {
	for _, dir := range dirs {
		if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

func list(dir string) ([]file, error) {
	var files []file
	err := filepath.WalkDir(dir, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !entry.Type().IsRegular() {
			return nil
		}
		info, err := entry.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		files = append(files, file{path, info.Size(), info.ModTime()})
		return nil
	})
	return files, err
}

func du(dir string) (int64, error) {
	files, err := list(dir)
	var total int64
	for _, f := range files {
		total += f.size
	}
	return total, err
}
