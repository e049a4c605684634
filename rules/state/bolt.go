package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Buckets of the bbolt file. Every value starts with its expiry (unix
// milliseconds, big endian): a record past it is absent to every reader and
// removed by Sweep.
//
//	g  triplet -> expires, first seen (ms), 1 byte: 0 pending, 1 passed
//	n  network -> expires, passed-triplet count (Allowed: allowed by hand)
//	r  counter key ":" window index -> expires, count
var (
	bucketGrey    = []byte("g")
	bucketNetwork = []byte("n")
	bucketCounter = []byte("r")
)

// BoltOptions tune the embedded store.
type BoltOptions struct {
	// LockTimeout bounds the wait for the file lock at open (default 1s):
	// another process holding it gives ErrLocked, not a hang.
	LockTimeout time.Duration
	// SweepInterval runs Sweep in the background this often (0: never;
	// Open's default is 1h).
	SweepInterval time.Duration
	// Clock gives the time of background sweeps (default time.Now).
	Clock func() time.Time
	// NoCheck skips the consistency check of the whole file at open.
	NoCheck bool
	Logger  *slog.Logger
}

// Bolt is the embedded store: one bbolt file, owned by one process.
type Bolt struct {
	db    *bolt.DB
	path  string
	clock func() time.Time
	log   *slog.Logger
	stop  chan struct{}
	done  sync.WaitGroup
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (or creates) the bbolt file at path. A file another
// process holds is ErrLocked after LockTimeout; a file that is not a valid
// database (or fails the consistency check) is ErrCorrupt. Neither panics.
func OpenBolt(path string, opt BoltOptions) (s *Bolt, err error) {
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = time.Second
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, v)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s (held for more than %v; is another levee running? `levee greylist` talks to a running daemon through %s)",
				ErrLocked, path, opt.LockTimeout, ControlSocket(path))
		case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("state: %w", err)
		}
		return nil, fmt.Errorf("%w: %s: %v (move it away to start afresh)", ErrCorrupt, path, err)
	}
	// Concurrent writers (recipients of several sessions) share one
	// transaction and one fsync; a short delay keeps RCPT fast.
	db.MaxBatchDelay = 2 * time.Millisecond
	s = &Bolt{db: db, path: path, clock: opt.Clock, log: opt.Logger, stop: make(chan struct{})}
	if err := s.init(!opt.NoCheck); err != nil {
		db.Close()
		return nil, err
	}
	if opt.SweepInterval > 0 {
		s.done.Add(1)
		go s.sweeper(opt.SweepInterval)
	}
	return s, nil
}

func (s *Bolt) init(check bool) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, v)
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketGrey, bucketNetwork, bucketCounter} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, err)
	}
	if !check {
		return nil
	}
	return s.db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			return fmt.Errorf("%w: %s: %v (move it away to start afresh)", ErrCorrupt, s.path, e)
		}
		return nil
	})
}

// Name is "bolt".
func (s *Bolt) Name() string { return "bolt" }

// Path is the file's path.
func (s *Bolt) Path() string { return s.path }

// Close stops the sweeper and closes the file.
func (s *Bolt) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.done.Wait()
	return s.db.Close()
}

// guard turns a panic inside bbolt (a page corrupted after open) into an
// error: bbolt's Update and View roll back on the way out.
func (s *Bolt) guard(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %s: %v\n%s", ErrCorrupt, s.path, v, debug.Stack())
		}
	}()
	return f()
}

// Apply makes one decision: a read-only transaction when nothing needs to
// change (known triplets, early retries, allowed networks), else one
// batched write transaction.
func (s *Bolt) Apply(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.guard(func() error {
		var need bool
		if err := s.db.View(func(tx *bolt.Tx) error { need = decide(tx, b, false); return nil }); err != nil {
			return err
		}
		if !need {
			return nil
		}
		// Batch may run the function again (alone) when another one of
		// its batch failed: decide starts from scratch each time.
		return s.db.Batch(func(tx *bolt.Tx) error { decide(tx, b, true); return nil })
	})
}

func putU64(dst []byte, vs ...int64) []byte {
	for _, v := range vs {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	}
	return dst
}

// get returns a record's value after its expiry, or nil when it is absent
// or expired (or malformed).
func get(b *bolt.Bucket, key []byte, now int64, size int) []byte {
	v := b.Get(key)
	if len(v) != 8+size {
		return nil
	}
	if int64(binary.BigEndian.Uint64(v)) <= now {
		return nil
	}
	return v[8:]
}

func expiresOf(b *bolt.Bucket, key []byte) int64 {
	v := b.Get(key)
	if len(v) < 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// decide is the decision algorithm of Batch (the Redis store runs the same
// one as a Lua script). With write false it changes nothing and reports
// whether a write is needed.
func decide(tx *bolt.Tx, b *Batch, write bool) (need bool) {
	g, n, r := tx.Bucket(bucketGrey), tx.Bucket(bucketNetwork), tx.Bucket(bucketCounter)
	now := ms(b.Now)
	p := b.Policy
	ttl, window, delay := p.TTL.Milliseconds(), p.Window.Milliseconds(), p.Delay.Milliseconds()
	put := func(bk *bolt.Bucket, key []byte, vs ...int64) {
		need = true
		if write {
			v := putU64(nil, vs[:2]...)
			if len(vs) == 3 { // a triplet: its state is one byte
				v = append(v, byte(vs[2]))
			}
			if err := bk.Put(key, v); err != nil {
				panic(err) // only on a read-only tx or a key too long: caught by guard
			}
		}
	}
	refused := false
	for i := range b.Grey {
		op := &b.Grey[i]
		op.Outcome, op.FirstSeen = 0, time.Time{}
		nk := []byte(op.Network)
		var count int64
		if v := get(n, nk, now, 8); v != nil {
			count = int64(binary.BigEndian.Uint64(v))
		}
		if count >= Allowed || p.AutoAllow > 0 && count >= int64(p.AutoAllow) {
			op.Outcome = GreyAllowed
			if refreshNeeded(fromMS(expiresOf(n, nk)), b.Now, p.TTL) {
				put(n, nk, now+ttl, count)
			}
			continue
		}
		tk := []byte(op.Triplet)
		v := get(g, tk, now, 9)
		var first int64
		if v != nil {
			first = int64(binary.BigEndian.Uint64(v))
		}
		switch {
		case v == nil || v[8] == 0 && now-first > window:
			op.Outcome, first = GreyNew, now
			put(g, tk, now+window, now, 0)
		case v[8] == 1:
			op.Outcome = GreyKnown
			if refreshNeeded(fromMS(expiresOf(g, tk)), b.Now, p.TTL) {
				put(g, tk, now+ttl, first, 1)
			}
		case now-first < delay:
			op.Outcome = GreyEarly
		default:
			op.Outcome = GreyPassed
			put(g, tk, now+ttl, first, 1)
			put(n, nk, now+ttl, count+1)
		}
		op.FirstSeen = fromMS(first)
		refused = refused || op.Outcome.Refused()
	}
	over := false
	keys := make([][]byte, len(b.Counts))
	curs := make([]int64, len(b.Counts))
	for j := range b.Counts {
		op := &b.Counts[j]
		w := op.Window
		idx := bucket(b.Now, w)
		keys[j] = counterKey(op.Key, idx)
		var cur, prev int64
		if v := get(r, keys[j], now, 8); v != nil {
			cur = int64(binary.BigEndian.Uint64(v))
		}
		curs[j] = cur
		op.Count = float64(cur)
		if op.Sliding {
			if v := get(r, counterKey(op.Key, idx-1), now, 8); v != nil {
				prev = int64(binary.BigEndian.Uint64(v))
			}
			op.Count += float64(prev) * slidingWeight(b.Now, w)
		}
		op.Over = op.Count+float64(op.Add) > float64(op.Limit)
		over = over || op.Over
	}
	if refused || over {
		return need
	}
	for j := range b.Counts {
		op := &b.Counts[j]
		idx := bucket(b.Now, op.Window)
		put(r, keys[j], (idx+2)*op.Window.Milliseconds(), curs[j]+op.Add)
	}
	return need
}

func counterKey(key string, idx int64) []byte {
	return strconv.AppendInt(append([]byte(key), ':'), idx, 10)
}

// List calls fn for the live records of a kind ("" for all) whose key
// starts with prefix.
func (s *Bolt) List(ctx context.Context, now time.Time, kind, prefix string, fn func(Entry) error) error {
	return s.guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			for _, k := range []string{KindTriplet, KindNetwork, KindCounter} {
				if kind != "" && kind != k {
					continue
				}
				c := tx.Bucket(bucketOf(k)).Cursor()
				pre := []byte(prefix)
				for key, v := c.Seek(pre); key != nil && bytes.HasPrefix(key, pre); key, v = c.Next() {
					if err := ctx.Err(); err != nil {
						return err
					}
					e, ok := entryOf(k, key, v, now)
					if !ok {
						continue
					}
					if err := fn(e); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
}

func bucketOf(kind string) []byte {
	switch kind {
	case KindTriplet:
		return bucketGrey
	case KindNetwork:
		return bucketNetwork
	}
	return bucketCounter
}

func entryOf(kind string, key, v []byte, now time.Time) (Entry, bool) {
	if len(v) < 16 {
		return Entry{}, false
	}
	exp := fromMS(int64(binary.BigEndian.Uint64(v)))
	if !exp.After(now) {
		return Entry{}, false
	}
	e := Entry{Kind: kind, Key: string(key), Expires: exp}
	x := int64(binary.BigEndian.Uint64(v[8:]))
	switch kind {
	case KindTriplet:
		e.First, e.State = fromMS(x), "pending"
		if len(v) > 16 && v[16] == 1 {
			e.State = "passed"
		}
	case KindNetwork:
		e.Count, e.State = x, "counting"
		if x >= Allowed {
			e.State = "allowed"
		}
	default:
		e.Count = x
	}
	return e, true
}

// AllowNetwork marks a network allowed for ttl.
func (s *Bolt) AllowNetwork(ctx context.Context, now time.Time, network string, ttl time.Duration) error {
	return s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketNetwork).Put([]byte(network), putU64(nil, ms(now.Add(ttl)), Allowed))
		})
	})
}

// PassTriplet records a triplet as passed for ttl.
func (s *Bolt) PassTriplet(ctx context.Context, now time.Time, triplet string, ttl time.Duration) error {
	return s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketGrey).Put([]byte(triplet), append(putU64(nil, ms(now.Add(ttl)), ms(now)), 1))
		})
	})
}

// Delete removes records of a kind by key or key prefix.
func (s *Bolt) Delete(ctx context.Context, kind, key string, prefix bool) (n int, err error) {
	err = s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketOf(kind))
			if !prefix {
				if b.Get([]byte(key)) != nil {
					n++
				}
				return b.Delete([]byte(key))
			}
			c := b.Cursor()
			pre := []byte(key)
			for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Seek(pre) {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
	})
	return n, err
}

// sweepChunk is how many keys one sweep transaction looks at: the write
// lock is held for a short time only.
const sweepChunk = 10000

// Sweep deletes every record expired at now and returns how many went. It
// works in short transactions (a read to find expired keys, a write to
// delete them), so the daemon's decisions go on meanwhile.
func (s *Bolt) Sweep(now time.Time) (int, error) {
	deleted := 0
	err := s.guard(func() error {
		t := ms(now)
		for _, bk := range [][]byte{bucketGrey, bucketNetwork, bucketCounter} {
			var after []byte
			for {
				var expired [][]byte
				var last []byte
				seen := 0
				err := s.db.View(func(tx *bolt.Tx) error {
					c := tx.Bucket(bk).Cursor()
					var k, v []byte
					if after == nil {
						k, v = c.First()
					} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
						k, v = c.Next()
					}
					for ; k != nil && seen < sweepChunk; k, v = c.Next() {
						seen++
						last = append(last[:0], k...)
						if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= t {
							expired = append(expired, append([]byte(nil), k...))
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				if len(expired) > 0 {
					err = s.db.Update(func(tx *bolt.Tx) error {
						b := tx.Bucket(bk)
						for _, k := range expired {
							if v := b.Get(k); v != nil && (len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= t) {
								if err := b.Delete(k); err != nil {
									return err
								}
								deleted++
							}
						}
						return nil
					})
					if err != nil {
						return err
					}
				}
				if seen < sweepChunk {
					break
				}
				after = append([]byte(nil), last...)
			}
		}
		return nil
	})
	return deleted, err
}

func (s *Bolt) sweeper(every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			start := time.Now()
			n, err := s.Sweep(s.clock())
			if err != nil {
				s.log.Error("state: sweeping expired records failed", "path", s.path, "err", err)
				continue
			}
			s.log.Debug("state: expired records swept", "path", s.path, "deleted", n, "took", time.Since(start).Round(time.Millisecond).String())
		}
	}
}

// Stats are figures of the file, for `levee greylist list --stats` and
// the size measurements.
type Stats struct {
	Triplets, Networks, Counters int
	FileBytes                    int64
}

// Stats counts the records (expired ones included until swept) and
// reads the file size.
func (s *Bolt) Stats() (Stats, error) {
	var st Stats
	err := s.guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			st.Triplets = tx.Bucket(bucketGrey).Stats().KeyN
			st.Networks = tx.Bucket(bucketNetwork).Stats().KeyN
			st.Counters = tx.Bucket(bucketCounter).Stats().KeyN
			return nil
		})
	})
	if fi, ferr := os.Stat(s.path); ferr == nil {
		st.FileBytes = fi.Size()
	}
	return st, err
}
