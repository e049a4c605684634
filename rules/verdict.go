package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/levee-mail/levee/rules/auth"
)

// Action is what happens to a message.
type Action int

// Actions, weakest first.
const (
	Accept Action = iota
	AddHeader
	RewriteSubject
	Tempfail
	Quarantine
	Reject
	Discard
)

var actionNames = [...]string{"accept", "add_header", "rewrite_subject", "tempfail", "quarantine", "reject", "discard"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Hit is one check that fired, with the score it added.
type Hit struct {
	Name  string
	Score float64
	Desc  string
}

// Verdict is the engine's judgement of one message.
type Verdict struct {
	Score    float64
	Required float64 // the tag threshold, for X-Spam-Status
	Spam     bool    // Score reaches the tag threshold
	Hits     []Hit   // sorted by name
	// Action is what the filter must do. In monitor mode it is never
	// stronger than RewriteSubject... it is AddHeader or Accept;
	// WouldBe keeps the action enforce mode would have taken.
	Action  Action
	WouldBe Action
	// Reply is the SMTP reply for Reject and Tempfail, e.g.
	// "550 5.7.1 Message rejected as spam". Never internals.
	Reply string
	// QuarantineReason is given with SMFIR_QUARANTINE.
	QuarantineReason string
	// SubjectPrefix is set for RewriteSubject.
	SubjectPrefix string
	// Headers are the X-Spam-* fields to add (empty for skipped messages).
	Headers []Field
	// Insert are fields to put at the top of the header, in this order
	// (Authentication-Results, DKIM-Signature); Remove are incoming fields
	// to delete (Authentication-Results that claim levee's authserv-id).
	// Both apply to skipped messages too.
	Insert []Field
	Remove []FieldRef
	// Auth is the SPF/DKIM/DMARC verdict (nil when not verified).
	Auth *auth.Result
	// Skipped says why the message was not scored: "trusted", "authenticated", or "".
	Skipped string
	// Greylist: the score reached thresholds.greylist and the action is
	// weaker than tempfail: the filter tempfails the message when one of
	// its triplets is new to the greylist store.
	Greylist bool
	// Errors are problems met while judging (DNS errors...), for the log.
	Errors  []string
	Elapsed time.Duration
}

// HitNames returns the names of the hits, sorted.
func (v *Verdict) HitNames() []string {
	out := make([]string, len(v.Hits))
	for i, h := range v.Hits {
		out[i] = h.Name
	}
	return out
}

// FormatScore formats a score as SpamAssassin does: one decimal.
func FormatScore(s float64) string { return strconv.FormatFloat(s, 'f', 1, 64) }

func sortHits(h []Hit) {
	sort.Slice(h, func(i, j int) bool { return h[i].Name < h[j].Name })
}

// spamHeaders builds the SpamAssassin-style fields. Folded lines use "\n\t",
// as libmilter's smfi_addheader expects.
func spamHeaders(v *Verdict, report string) []Field {
	var out []Field
	if v.Spam {
		out = append(out, Field{Name: "X-Spam-Flag", Value: "YES"})
	}
	out = append(out, Field{Name: "X-Spam-Score", Value: FormatScore(v.Score)})
	stars := int(v.Score)
	if stars < 0 {
		stars = 0
	}
	if stars > 50 {
		stars = 50
	}
	out = append(out, Field{Name: "X-Spam-Level", Value: strings.Repeat("*", stars)})
	yes := "No"
	if v.Spam {
		yes = "Yes"
	}
	tests := "none"
	if len(v.Hits) > 0 {
		tests = strings.Join(v.HitNames(), ",")
	}
	status := fmt.Sprintf("%s, score=%s required=%s tests=%s", yes, FormatScore(v.Score), FormatScore(v.Required), tests)
	out = append(out, Field{Name: "X-Spam-Status", Value: fold(status, 78-len("X-Spam-Status: "))})
	if report == "always" || (report == "spam" && v.Spam) {
		var b strings.Builder
		b.WriteString("Content analysis details:   (" + FormatScore(v.Score) + " points, " + FormatScore(v.Required) + " required)")
		for _, h := range v.Hits {
			fmt.Fprintf(&b, "\n\t* %5s %s %s", FormatScore(h.Score), h.Name, oneLine(h.Desc))
		}
		out = append(out, Field{Name: "X-Spam-Report", Value: b.String()})
	}
	return out
}

// fold breaks a long value at commas and spaces into lines joined by "\n\t".
func fold(s string, first int) string {
	if len(s) <= first {
		return s
	}
	var b strings.Builder
	limit := first
	line := 0
	for len(s) > 0 {
		cut := len(s)
		if cut > limit {
			cut = -1
			for i := limit; i > 0; i-- {
				if s[i-1] == ',' || s[i-1] == ' ' {
					cut = i
					break
				}
			}
			if cut <= 0 {
				cut = strings.IndexAny(s[limit:], ", ")
				if cut < 0 {
					cut = len(s)
				} else {
					cut += limit + 1
				}
			}
		}
		if line > 0 {
			b.WriteString("\n\t")
		}
		b.WriteString(strings.TrimRight(s[:cut], " "))
		s = strings.TrimLeft(s[cut:], " ")
		line++
		limit = 70
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// sanitizeReply makes text safe for an SMTP reply sent through the milter
// protocol: one line, printable ASCII, '%' doubled (libmilter treats the
// reply as a format), bounded length.
func sanitizeReply(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '%':
			b.WriteString("%%")
		case r < ' ' || r > '~':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
		if b.Len() > 450 {
			break
		}
	}
	return strings.TrimSpace(b.String())
}
