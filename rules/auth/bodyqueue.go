package auth

import (
	"io"
	"sync"
)

// bodyQueue hands the message (a rebuilt header, then the body chunks as
// the MTA sends them) to go-msgauth's verifier, which reads it in its own
// goroutine. go-msgauth looks a signature's key up before it hashes the
// body; the key is prefetched at end of header, but if DNS is slow the
// verifier reads nothing until it has the key (or the message's DNS
// deadline has passed). The queue absorbs the body meanwhile so that the
// milter's body events go on: up to limit bytes not yet read, beyond that
// Write waits for the reader, which the deadline bounds. Chunks are kept
// by reference (the milter allocates each one and never changes it), not
// copied. Once the reader is done, Write drops what it gets.
type bodyQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	bufs   [][]byte
	queued int
	limit  int
	closed bool // no more writes
	gone   bool // the reader is done: writes are dropped
}

func newBodyQueue(limit int) *bodyQueue {
	q := &bodyQueue{limit: limit}
	q.cond.L = &q.mu
	return q
}

// Write queues p (kept, not copied); it waits only while the queue is full.
func (q *bodyQueue) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.gone && q.queued > 0 && q.queued+len(p) > q.limit {
		q.cond.Wait()
	}
	if q.gone || q.closed {
		return len(p), nil
	}
	q.bufs = append(q.bufs, p)
	q.queued += len(p)
	q.cond.Broadcast()
	return len(p), nil
}

// Read is the verifier's side: it waits for data or the end.
func (q *bodyQueue) Read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.bufs) == 0 && !q.closed && !q.gone {
		q.cond.Wait()
	}
	if len(q.bufs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, q.bufs[0])
	if n == len(q.bufs[0]) {
		q.bufs[0] = nil
		q.bufs = q.bufs[1:]
	} else {
		q.bufs[0] = q.bufs[0][n:]
	}
	q.queued -= n
	q.cond.Broadcast()
	return n, nil
}

// Close ends the message: Read returns io.EOF once the queue is empty.
func (q *bodyQueue) Close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Abandon drops what is queued; later writes are dropped and reads end.
func (q *bodyQueue) Abandon() {
	q.mu.Lock()
	q.gone = true
	q.bufs, q.queued = nil, 0
	q.cond.Broadcast()
	q.mu.Unlock()
}
