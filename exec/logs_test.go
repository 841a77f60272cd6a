package exec

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotator needs no root: it writes through the rotator and reads back through
// the same reader Logs returns.
func TestRotator(t *testing.T) {
	tests := []struct {
		name      string
		maxBytes  int64
		maxFiles  int
		writes    []string
		wantFiles map[string]string // file name -> content
	}{
		{name: "cut after a newline", maxBytes: 10, maxFiles: 3, writes: []string{"aaaa\nbbbb\ncccc\n"},
			wantFiles: map[string]string{"out.1": "aaaa\nbbbb\n", "out": "cccc\n"}},
		{name: "oldest dropped", maxBytes: 5, maxFiles: 2, writes: []string{"111\n", "222\n", "333\n"},
			wantFiles: map[string]string{"out.1": "222\n", "out": "333\n"}},
		{name: "line longer than a file is split", maxBytes: 4, maxFiles: 3, writes: []string{"abcdefg\n"},
			wantFiles: map[string]string{"out.1": "abcd", "out": "efg\n"}},
		{name: "one file: truncated in place", maxBytes: 4, maxFiles: 1, writes: []string{"abc\n", "def\n"},
			wantFiles: map[string]string{"out": "def\n"}},
		{name: "nothing written, no file", maxBytes: 4, maxFiles: 3, wantFiles: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := newRotator(filepath.Join(dir, "out"), tt.maxBytes, tt.maxFiles)
			for _, w := range tt.writes {
				if n, err := r.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			r.Close()
			entries, _ := os.ReadDir(dir)
			got := map[string]string{}
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				got[e.Name()] = string(b)
			}
			if len(got) != len(tt.wantFiles) {
				t.Fatalf("files %q, want %q", got, tt.wantFiles)
			}
			var all strings.Builder
			for i := tt.maxFiles - 1; i >= 0; i-- {
				name := "out"
				if i > 0 {
					name += "." + string(rune('0'+i))
				}
				if got[name] != tt.wantFiles[name] {
					t.Errorf("%s = %q, want %q", name, got[name], tt.wantFiles[name])
				}
				all.WriteString(got[name])
			}
			done := make(chan struct{})
			close(done)
			lr := &logReader{base: filepath.Join(dir, "out"), maxFiles: tt.maxFiles, done: done, closed: make(chan struct{})}
			b, err := io.ReadAll(lr)
			if err != nil || string(b) != all.String() {
				t.Errorf("reader: %q, %v; want %q", b, err, all.String())
			}
		})
	}
}
