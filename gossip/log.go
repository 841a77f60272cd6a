package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// discardLogger is used when Config.Logger is nil.
var discardLogger = slog.New(slog.DiscardHandler)

// stdLogger returns a *log.Logger whose lines (serf's and memberlist's
// "[WARN] memberlist: text") are re-emitted on l at the matching slog level.
func stdLogger(l *slog.Logger) *log.Logger {
	return log.New(&slogWriter{l: l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag   string
		level slog.Level
	}{
		{"[TRACE]", slog.LevelDebug - 4}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
	} {
		if rest, ok := strings.CutPrefix(line, lv.tag); ok {
			level, line = lv.level, strings.TrimSpace(rest)
			break
		}
	}
	component := "serf"
	if c, rest, ok := strings.Cut(line, ": "); ok && (c == "memberlist" || c == "serf") {
		component, line = c, rest
	}
	if !w.l.Enabled(context.Background(), level) {
		return len(p), nil
	}
	w.l.Log(context.Background(), level, component, "msg", line)
	return len(p), nil
}
