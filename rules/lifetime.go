package rules

import "sync"

// lifetime counts the messages that use an engine, so that an engine
// replaced by a reload is closed (its DNSBL health checks stopped, its DNS
// caches let go) as soon as the last message that started with it is
// done, rather than after a fixed grace time.
type lifetime struct {
	mu       sync.Mutex
	users    int
	retired  bool
	onClosed func()
	once     sync.Once // Close
}

// Acquire registers a message that will use the engine, and reports false
// when the engine is retired (the caller takes the engine current now).
// Every true Acquire is paired with one Release.
func (e *Engine) Acquire() bool {
	e.life.mu.Lock()
	defer e.life.mu.Unlock()
	if e.life.retired {
		return false
	}
	e.life.users++
	return true
}

// Release ends a message's use of the engine; the last release of a
// retired engine closes it.
func (e *Engine) Release() {
	e.life.mu.Lock()
	e.life.users--
	last := e.life.retired && e.life.users == 0
	e.life.mu.Unlock()
	if last {
		e.closeRetired()
	}
}

// Retire marks an engine that a reload replaced: no new message acquires
// it, and it is closed once the messages using it are done (at once when
// there are none). closed, if not nil, is called after it is closed.
func (e *Engine) Retire(closed func()) {
	e.life.mu.Lock()
	if e.life.retired {
		e.life.mu.Unlock()
		return
	}
	e.life.retired, e.life.onClosed = true, closed
	idle := e.life.users == 0
	e.life.mu.Unlock()
	if idle {
		e.closeRetired()
	}
}

// Users is the number of messages using the engine now.
func (e *Engine) Users() int {
	e.life.mu.Lock()
	defer e.life.mu.Unlock()
	return e.life.users
}

func (e *Engine) closeRetired() {
	e.Close()
	e.life.mu.Lock()
	f := e.life.onClosed
	e.life.onClosed = nil
	e.life.mu.Unlock()
	if f != nil {
		f()
	}
}
