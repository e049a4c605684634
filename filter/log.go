package filter

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"sync"
	"time"
)

// RouteStdLog sends what go-milter writes with the standard log package into
// l (at warn level), so every line levee prints goes through slog.
//
// go-milter logs once per connection it drops (an unknown command, a
// malformed packet, a read error): a flood of such connections must not
// flood the log. At most stdLogBurst lines go through per stdLogWindow;
// the rest are counted, and the count is logged when the window ends.
func RouteStdLog(l *slog.Logger) {
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(&stdLogWriter{l: l, window: stdLogWindow})
}

const (
	stdLogBurst  = 20
	stdLogWindow = 10 * time.Second
)

type stdLogWriter struct {
	l      *slog.Logger
	window time.Duration

	mu      sync.Mutex
	start   time.Time // of the window
	lines   int       // logged in the window
	dropped int
	timer   *time.Timer
}

func (w *stdLogWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	if now.Sub(w.start) >= w.window && w.dropped == 0 {
		w.start, w.lines = now, 0
	}
	if w.lines >= stdLogBurst {
		if w.dropped == 0 {
			w.timer = time.AfterFunc(w.start.Add(w.window).Sub(now), w.summary)
		}
		w.dropped++
		w.mu.Unlock()
		return len(p), nil
	}
	w.lines++
	w.mu.Unlock()
	msg := string(bytes.TrimRight(p, "\n"))
	w.l.Log(context.Background(), slog.LevelWarn, msg, "component", "go-milter")
	return len(p), nil
}

// summary ends a window in which lines were dropped.
func (w *stdLogWriter) summary() {
	w.mu.Lock()
	n, every := w.dropped, w.window
	w.dropped, w.lines, w.start = 0, 0, time.Now()
	w.mu.Unlock()
	w.l.Log(context.Background(), slog.LevelWarn, "go-milter: more messages suppressed",
		"component", "go-milter", "count", n, "window", every.String())
}
