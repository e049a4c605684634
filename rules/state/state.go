// Package state is levee's memory across messages: the greylist records and
// the rate-limit counters, behind one small interface with two
// implementations.
//
//   - Bolt: an embedded go.etcd.io/bbolt file (state.path, default
//     /var/lib/levee/state.db). No setup; one levee process owns the file.
//   - Redis: github.com/redis/go-redis/v9, for several levee instances (two
//     MXes) that must share one greylist and one set of counters.
//
// Every decision is one call, Store.Apply, on a Batch: the greylist records
// of a recipient (or of all recipients at end of message) and the
// rate-limit counters it touches. Apply is atomic: one bbolt transaction,
// or one Lua script in Redis, so one round trip per call. Everything stored
// expires: greylist records after their window or ttl, counters after two
// windows; Redis drops them itself (key TTLs), the bbolt store sweeps them
// (Bolt.Sweep, run every sweep_interval by Open's store).
//
// Time comes from the Batch (Batch.Now), so tests of delays, windows and
// expiry need no sleeping.
//
// The package knows nothing of SMTP, milters or the rules engine: keys are
// strings built by rules/greylist and rules/ratelimit.
package state

import (
	"context"
	"errors"
	"time"
)

// GreyOutcome is what a greylist record says about one attempt.
type GreyOutcome uint8

// Greylist outcomes.
const (
	// GreyNew: first attempt of this triplet; it is now recorded as
	// pending for Policy.Window. The attempt gets a temporary failure.
	GreyNew GreyOutcome = iota + 1
	// GreyEarly: a retry before Policy.Delay has passed: still refused.
	GreyEarly
	// GreyPassed: a retry after the delay, within the window: accepted,
	// the triplet is remembered for Policy.TTL and its network's count of
	// passed triplets goes up by one.
	GreyPassed
	// GreyKnown: the triplet passed before: accepted (its TTL is renewed).
	GreyKnown
	// GreyAllowed: the client network has passed Policy.AutoAllow triplets,
	// or an operator allowed it: accepted without looking at the triplet.
	GreyAllowed
)

var outcomeNames = [...]string{"", "new", "early_retry", "passed", "known", "auto_allowed"}

func (o GreyOutcome) String() string {
	if int(o) < len(outcomeNames) && o != 0 {
		return outcomeNames[o]
	}
	return "unknown"
}

// Refused reports whether the outcome is a temporary failure.
func (o GreyOutcome) Refused() bool { return o == GreyNew || o == GreyEarly }

// GreyPolicy are the greylisting times (postgrey and milter-greylist's).
type GreyPolicy struct {
	Delay  time.Duration // a retry is accepted this long after the first attempt
	Window time.Duration // a pending triplet is forgotten after this long
	TTL    time.Duration // a passed triplet (and a network's count) is remembered this long after its last use
	// AutoAllow: a network with this many passed triplets skips
	// greylisting (0: never).
	AutoAllow int
}

// GreyOp is one greylist record to consult and update.
type GreyOp struct {
	Triplet string // the triplet's key (rules/greylist builds it)
	Network string // the key of the client network's counter

	// Results.
	Outcome   GreyOutcome
	FirstSeen time.Time // first attempt of the triplet (zero for GreyAllowed)
}

// CountOp is one rate-limit counter: Add is added unless the count would
// then exceed Limit.
type CountOp struct {
	Key    string        // e.g. "user:alice:msgs"; the window index is added by the store
	Add    int64         // usually 1
	Limit  int64         // > 0
	Window time.Duration // > 0
	// Sliding estimates the count over the last Window from the current
	// and the previous fixed bucket, the previous weighted by the share of
	// it still inside the window. Otherwise the count is that of the
	// current fixed bucket (windows aligned on multiples of Window).
	Sliding bool

	// Results.
	Count float64 // the count before this call (estimated when Sliding)
	Over  bool    // Count+Add > Limit: nothing was added
}

// Batch is one atomic decision.
//
// The greylist records are consulted first, each on its own. When any of
// them refuses (GreyNew, GreyEarly), the counters are not touched (a
// refused attempt costs no quota). Otherwise, when any counter would go
// over its limit, none is incremented and those are marked Over; else all
// are incremented.
type Batch struct {
	Now    time.Time
	Policy GreyPolicy
	Grey   []GreyOp
	Counts []CountOp
}

// Refused reports whether a greylist record of the batch refused.
func (b *Batch) Refused() bool {
	for i := range b.Grey {
		if b.Grey[i].Outcome.Refused() {
			return true
		}
	}
	return false
}

// Over reports whether a counter of the batch is over its limit.
func (b *Batch) Over() bool {
	for i := range b.Counts {
		if b.Counts[i].Over {
			return true
		}
	}
	return false
}

// Entry kinds.
const (
	KindTriplet = "triplet"
	KindNetwork = "network"
	KindCounter = "counter"
)

// Entry is one stored record, for `levee greylist list`.
type Entry struct {
	Kind    string    `json:"kind"`
	Key     string    `json:"key"`
	State   string    `json:"state,omitempty"` // triplet: pending or passed; network: counting or allowed
	First   time.Time `json:"first_seen,omitzero"`
	Count   int64     `json:"count,omitempty"` // network: passed triplets; counter: its value
	Expires time.Time `json:"expires"`
}

// Allowed is the count an operator's "allow" gives a network: above any
// auto_allow.
const Allowed = 1 << 40

// Store keeps levee's state. All methods are safe for concurrent use.
type Store interface {
	// Apply makes one decision atomically, in one round trip.
	Apply(ctx context.Context, b *Batch) error
	// List calls fn for every live record (expired ones are left out)
	// whose key starts with prefix, of the given kind ("" for all kinds).
	List(ctx context.Context, now time.Time, kind, prefix string, fn func(Entry) error) error
	// AllowNetwork sets a network's count to Allowed for ttl.
	AllowNetwork(ctx context.Context, now time.Time, network string, ttl time.Duration) error
	// PassTriplet records a triplet as passed for ttl.
	PassTriplet(ctx context.Context, now time.Time, triplet string, ttl time.Duration) error
	// Delete removes the records of a kind whose key equals key, or, with
	// prefix set, starts with key; it returns how many went.
	Delete(ctx context.Context, kind, key string, prefix bool) (int, error)
	// Name is "bolt" or "redis", for logs and metrics.
	Name() string
	Close() error
}

// Errors.
var (
	// ErrLocked: the bbolt file is held by another process.
	ErrLocked = errors.New("state: the database file is locked by another process")
	// ErrCorrupt: the bbolt file is not a valid database.
	ErrCorrupt = errors.New("state: the database file is not a valid bbolt database")
	// ErrNoDefaultDir: state.path was left empty and the default directory
	// cannot be created or written (levee runs as a user without it).
	ErrNoDefaultDir = errors.New("state: the default state directory is not writable")
	// ErrTimeout: a call did not finish within the configured timeout.
	ErrTimeout = errors.New("state: the store did not answer in time")
)

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// refreshAfter: a passed triplet's or a network's expiry is pushed back to
// now+ttl only once it has less than ttl - ttl/16 left, so a triplet seen
// on every message does not cost a write each time (about two days of
// granularity for the default 35 days).
func refreshNeeded(expires, now time.Time, ttl time.Duration) bool {
	return expires.Sub(now) < ttl-ttl/16
}

// window index of t for a counter of window w.
func bucket(t time.Time, w time.Duration) int64 { return t.UnixMilli() / w.Milliseconds() }

// slidingWeight is the share of the previous bucket still inside a
// sliding window ending at t.
func slidingWeight(t time.Time, w time.Duration) float64 {
	wm := w.Milliseconds()
	return 1 - float64(t.UnixMilli()%wm)/float64(wm)
}

// ControlSocket is where a daemon that owns the bbolt file at path listens
// for `levee greylist` requests (the file itself is locked while it runs).
func ControlSocket(path string) string { return path + ".sock" }
