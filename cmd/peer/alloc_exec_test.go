package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestEscapeReader: the escape character and a dot at the start of a line close the
// session, after what came before; anywhere else, or followed by anything else, it
// is passed on as typed; typed twice it passes once. The same whether bytes are
// typed or read one at a time or together.
func TestEscapeReader(t *testing.T) {
	for _, tc := range []struct {
		name, typed, want string
		closed            bool
	}{
		{"nothing to escape", "ls -l\r", "ls -l\r", false},
		{"close at the start", "~.ls\r", "", true},
		{"close after a line", "echo hi\r~.exit\r", "echo hi\r", true},
		{"close after a newline", "a\n~.", "a\n", true},
		{"mid-line is typed", "echo ~.\r", "echo ~.\r", false},
		{"twice passes one", "~~.\r", "~.\r", false},
		{"followed by another byte", "~x\r~y", "~x\r~y", false},
		{"held at the end", "a\r~", "a\r~", false},
	} {
		same := func(r io.Reader) io.Reader { return r }
		for _, split := range []struct {
			name    string
			r, read func(io.Reader) io.Reader
		}{
			{"together", same, same},
			{"typed one byte at a time", iotest.OneByteReader, same},
			{"read one byte at a time", same, iotest.OneByteReader},
		} {
			t.Run(tc.name+"/"+split.name, func(t *testing.T) {
				closed := false
				r := &escapeReader{r: split.r(strings.NewReader(tc.typed)), esc: '~', lineStart: true, closed: func() { closed = true }}
				got, err := io.ReadAll(split.read(r))
				wantErr := error(nil)
				if tc.closed {
					wantErr = errEscaped
				}
				if string(got) != tc.want || closed != tc.closed || !errors.Is(err, wantErr) {
					t.Errorf("typed %q: passed %q, closed %v, err %v; want %q, %v, %v", tc.typed, got, closed, err, tc.want, tc.closed, wantErr)
				}
			})
		}
	}
}
