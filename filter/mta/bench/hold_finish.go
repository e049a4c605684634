package bench

// The Finish option of Hold: every held session finishes its message at
// once, and each verdict and its latency are recorded, so that memory and
// verdict times under load (a DNS server that never answers, say) are
// measured, and a message that gets no verdict shows as an error.

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-milter"
)

// FinishResult is what the held sessions' ends of message gave.
type FinishResult struct {
	Sessions int      `json:"sessions"` // that finished their message
	Verdicts Verdicts `json:"verdicts"`
	Errors   int      `json:"errors"` // no verdict
	ErrorMsg string   `json:"error,omitempty"`
	// Verdict latency: from the end of message sent to the verdict read.
	EOMP50ms float64 `json:"eom_p50_ms"`
	EOMP99ms float64 `json:"eom_p99_ms"`
	EOMMaxMs float64 `json:"eom_max_ms"`
	// From the first chunk of the rest of the body to the verdict (the
	// body transfer of every session at once included).
	MessageMaxMs float64 `json:"message_max_ms"`
	Seconds      float64 `json:"seconds"`
	RSSMiB       float64 `json:"rss_mib"` // VmRSS once every verdict is in
	HWMMiB       float64 `json:"hwm_mib"` // VmHWM: the peak of the whole run
}

// holdMessage is the message of session i: with clients, from its own
// client IP in 198.18.0.0/15 (RFC 2544's benchmarking range).
func holdMessage(m *Message, i int, clients bool) *Message {
	if !clients {
		return m
	}
	c := *m
	n := i + 1
	c.Client.IP = netip.AddrFrom4([4]byte{198, 18 + byte(n>>16&1), byte(n >> 8), byte(n)})
	return &c
}

// holdChunk is the body chunk of session i: with clients, its first line
// links to a host of its own (looked up at end of message).
func holdChunk(chunk []byte, i int, clients bool) []byte {
	if !clients {
		return chunk
	}
	c := append([]byte(nil), chunk...)
	line := fmt.Sprintf("see http://www.hold%d.net/ ", i+1)
	copy(c, line+strings.Repeat("x", max(78-len(line), 0)))
	return c
}

// finishHeld sends the rest of every held session's body (rest bytes)
// and its end of message, all sessions at once.
func finishHeld(clients []*client, chunk []byte, rest int64, pid int) *FinishResult {
	r := &FinishResult{}
	var (
		mu       sync.Mutex
		eom      []time.Duration
		whole    time.Duration
		wg       sync.WaitGroup
		start    = make(chan struct{})
		verdicts []string
	)
	for _, c := range clients {
		if c == nil || c.s == nil {
			continue
		}
		r.Sessions++
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			begin := time.Now()
			v, sentEOM, err := c.finishMessage(chunk, rest)
			done := time.Now()
			c.close()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Errors++
				if r.ErrorMsg == "" {
					r.ErrorMsg = err.Error()
				}
				return
			}
			verdicts = append(verdicts, v)
			eom = append(eom, done.Sub(sentEOM))
			whole = max(whole, done.Sub(begin))
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	r.Seconds = time.Since(t0).Seconds()
	for _, v := range verdicts {
		r.Verdicts.add(v)
	}
	sort.Slice(eom, func(i, j int) bool { return eom[i] < eom[j] })
	r.EOMP50ms, r.EOMP99ms = ms(percentile(eom, 50)), ms(percentile(eom, 99))
	if len(eom) > 0 {
		r.EOMMaxMs = ms(eom[len(eom)-1])
	}
	r.MessageMaxMs = ms(whole)
	r.RSSMiB, r.HWMMiB, _ = procRSS(pid)
	return r
}

// finishMessage sends n more body bytes and end of message; it returns
// the verdict and when end of message was sent.
func (c *client) finishMessage(chunk []byte, n int64) (string, time.Time, error) {
	s := c.s
	for sent := int64(0); sent < n; {
		b := chunk[:min(int64(len(chunk)), n-sent)]
		act, err := s.BodyChunk(b)
		if err != nil {
			return "", time.Time{}, err
		}
		if act.Code == milter.ActSkip {
			break
		}
		if act.Code != milter.ActContinue {
			return verdictOf(act, nil), time.Now(), nil // a verdict before the end
		}
		sent += int64(len(b))
	}
	at := time.Now()
	mods, act, err := s.End()
	if err != nil {
		return "", at, fmt.Errorf("end of message: %w", err)
	}
	return verdictOf(act, mods), at, nil
}

func (v *Verdicts) add(name string) {
	switch name {
	case "accept":
		v.Accept++
	case "tagged":
		v.Tagged++
	case "quarantine":
		v.Quarantine++
	case "reject":
		v.Reject++
	case "tempfail":
		v.Tempfail++
	case "discard":
		v.Discard++
	}
}
