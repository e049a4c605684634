package state

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions say how to reach Redis.
type RedisOptions struct {
	Network  string // "tcp" (default) or "unix"
	Addr     string // host:port or the socket path
	Username string
	Password string
	DB       int
	// Prefix starts every key (default "levee:"), so several sites or
	// tests can share one Redis.
	Prefix string
	// Timeout bounds dialing, reads and writes (default 1s).
	Timeout time.Duration
}

// Redis is the shared store: every levee instance pointed at the same
// Redis sees one greylist and one set of counters.
//
// Keys (after Prefix), values as in the bbolt store with their own expiry
// (so that the caller's clock decides, as with bbolt), and a Redis TTL at
// the same instant (so that Redis frees them):
//
//	g:<triplet>        "<expires>:<first seen>:<0 pending|1 passed>"
//	n:<network>        "<expires>:<passed-triplet count>"
//	r:<counter>:<idx>  "<expires>:<count>" of one fixed window; expires at the end of the next window
//
// One Apply is one EVALSHA of applyScript (EVAL once when Redis does not
// know the script yet): one round trip per recipient.
type Redis struct {
	c       *redis.Client
	prefix  string
	addr    string
	timeout time.Duration
}

var _ Store = (*Redis)(nil)

//go:embed apply.lua
var applyLua string

var applyScript = redis.NewScript(applyLua)

// OpenRedis connects to Redis and checks that it answers.
func OpenRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	s := NewRedis(o)
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that Redis answers and knows the script.
func (s *Redis) Ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("state: redis %s: %w", s.addr, err)
	}
	if err := applyScript.Load(pctx, s.c).Err(); err != nil {
		return fmt.Errorf("state: redis %s: loading the script: %w", s.addr, err)
	}
	return nil
}

// NewRedis makes the client without contacting Redis (connections are
// made when needed).
func NewRedis(o RedisOptions) *Redis {
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Prefix == "" {
		o.Prefix = "levee:"
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	c := redis.NewClient(&redis.Options{
		Network:               o.Network,
		Addr:                  o.Addr,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		MaxRetries:            -1, // a down Redis fails the call at once: on_error decides
		DialTimeout:           o.Timeout,
		DialerRetries:         1,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		ContextTimeoutEnabled: true,
		ReadBufferSize:        8 << 10,
		WriteBufferSize:       8 << 10,
		DisableIdentity:       true,
	})
	return &Redis{c: c, prefix: o.Prefix, addr: o.Addr, timeout: o.Timeout}
}

// Name is "redis".
func (s *Redis) Name() string { return "redis" }

// Close closes the connections.
func (s *Redis) Close() error { return s.c.Close() }

// Apply runs the decision as one script.
//
// KEYS: for each greylist op its triplet and network keys, then for each
// counter its current and previous window keys. ARGV: now (ms), the number
// of greylist ops, delay, window, ttl (ms), auto_allow, Allowed, the number
// of counters, then per counter: add, limit, window (ms), sliding (0/1),
// the previous window's weight.
func (s *Redis) Apply(ctx context.Context, b *Batch) error {
	keys := make([]string, 0, 2*len(b.Grey)+2*len(b.Counts))
	args := make([]any, 0, 8+5*len(b.Counts))
	now := ms(b.Now)
	p := b.Policy
	args = append(args, now, len(b.Grey), p.Delay.Milliseconds(), p.Window.Milliseconds(), p.TTL.Milliseconds(), p.AutoAllow, int64(Allowed), len(b.Counts))
	for i := range b.Grey {
		keys = append(keys, s.prefix+"g:"+b.Grey[i].Triplet, s.prefix+"n:"+b.Grey[i].Network)
	}
	for j := range b.Counts {
		op := &b.Counts[j]
		idx := bucket(b.Now, op.Window)
		keys = append(keys, s.prefix+"r:"+string(counterKey(op.Key, idx)), s.prefix+"r:"+string(counterKey(op.Key, idx-1)))
		sl, wt := 0, 0.0
		if op.Sliding {
			sl, wt = 1, slidingWeight(b.Now, op.Window)
		}
		args = append(args, op.Add, op.Limit, op.Window.Milliseconds(), sl, strconv.FormatFloat(wt, 'g', -1, 64))
	}
	res, err := applyScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return fmt.Errorf("state: redis: %w", err)
	}
	if len(res) != 2*len(b.Grey)+2*len(b.Counts) {
		return fmt.Errorf("state: redis: the script answered %d values, want %d", len(res), 2*len(b.Grey)+2*len(b.Counts))
	}
	for i := range b.Grey {
		o, _ := res[2*i].(int64)
		f, _ := res[2*i+1].(int64)
		b.Grey[i].Outcome, b.Grey[i].FirstSeen = GreyOutcome(o), fromMS(f)
	}
	base := 2 * len(b.Grey)
	for j := range b.Counts {
		cs, _ := res[base+2*j].(string)
		c, err := strconv.ParseFloat(cs, 64)
		if err != nil {
			return fmt.Errorf("state: redis: bad count %q", cs)
		}
		over, _ := res[base+2*j+1].(int64)
		b.Counts[j].Count, b.Counts[j].Over = c, over == 1
	}
	return nil
}

// globEscape escapes Redis MATCH pattern characters.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func kindPrefix(kind string) string {
	switch kind {
	case KindTriplet:
		return "g:"
	case KindNetwork:
		return "n:"
	}
	return "r:"
}

// scan calls fn with batches of keys matching the prefix.
func (s *Redis) scan(ctx context.Context, pattern string, fn func([]string) error) error {
	var cursor uint64
	for {
		keys, next, err := s.c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return fmt.Errorf("state: redis: %w", err)
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// List walks the live records with SCAN.
func (s *Redis) List(ctx context.Context, now time.Time, kind, prefix string, fn func(Entry) error) error {
	for _, k := range []string{KindTriplet, KindNetwork, KindCounter} {
		if kind != "" && kind != k {
			continue
		}
		kp := s.prefix + kindPrefix(k)
		err := s.scan(ctx, globEscape(kp+prefix)+"*", func(keys []string) error {
			vals, err := s.c.MGet(ctx, keys...).Result()
			if err != nil {
				return fmt.Errorf("state: redis: %w", err)
			}
			for i, key := range keys {
				v, ok := vals[i].(string)
				if !ok {
					continue // gone meanwhile
				}
				e, ok := parseEntry(k, strings.TrimPrefix(key, kp), v, now)
				if !ok {
					continue
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// parseEntry reads a value of apply.lua's formats.
func parseEntry(kind, key, v string, now time.Time) (Entry, bool) {
	f := strings.Split(v, ":")
	if len(f) < 2 {
		return Entry{}, false
	}
	exp, err1 := strconv.ParseInt(f[0], 10, 64)
	x, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || exp <= ms(now) {
		return Entry{}, false
	}
	e := Entry{Kind: kind, Key: key, Expires: fromMS(exp)}
	switch kind {
	case KindTriplet:
		e.First, e.State = fromMS(x), "pending"
		if len(f) > 2 && f[2] == "1" {
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
func (s *Redis) AllowNetwork(ctx context.Context, now time.Time, network string, ttl time.Duration) error {
	exp := ms(now.Add(ttl))
	return wrapRedis(s.c.Set(ctx, s.prefix+"n:"+network, fmt.Sprintf("%d:%d", exp, int64(Allowed)), ttl).Err())
}

// PassTriplet records a triplet as passed for ttl.
func (s *Redis) PassTriplet(ctx context.Context, now time.Time, triplet string, ttl time.Duration) error {
	exp := ms(now.Add(ttl))
	return wrapRedis(s.c.Set(ctx, s.prefix+"g:"+triplet, fmt.Sprintf("%d:%d:1", exp, ms(now)), ttl).Err())
}

// Delete removes records by key or key prefix.
func (s *Redis) Delete(ctx context.Context, kind, key string, prefix bool) (int, error) {
	kp := s.prefix + kindPrefix(kind)
	if !prefix {
		n, err := s.c.Del(ctx, kp+key).Result()
		return int(n), wrapRedis(err)
	}
	total := 0
	err := s.scan(ctx, globEscape(kp+key)+"*", func(keys []string) error {
		n, err := s.c.Del(ctx, keys...).Result()
		total += int(n)
		return wrapRedis(err)
	})
	return total, err
}

func wrapRedis(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("state: redis: %w", err)
}
