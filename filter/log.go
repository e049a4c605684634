package filter

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// RouteStdLog sends what go-milter writes with the standard log package into
// l (at warn level), so every line levee prints goes through slog.
func RouteStdLog(l *slog.Logger) {
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(stdLogWriter{l})
}

type stdLogWriter struct{ l *slog.Logger }

func (w stdLogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	w.l.Log(context.Background(), slog.LevelWarn, msg, "component", "go-milter")
	return len(p), nil
}
