package postfix

import (
	"bufio"
	"os"
	"regexp"
	"strings"
)

// Status is one delivery attempt in the maillog: a delivery agent's
// "QUEUEID: to=<ADDR>, relay=..., status=STATUS (TEXT)" line.
type Status struct {
	Program string // e.g. "postfix/smtp", "postfix/relayb"
	QueueID string
	To      string
	Relay   string // "127.0.0.1[127.0.0.1]:PORT", "none"
	Status  string // sent, deferred, bounced, expired
	Text    string // the parenthesised reason or reply
}

var statusLine = regexp.MustCompile(`\s(postfix[^\s\[]*)\[\d+\]: ([0-9A-Za-z]+): to=<([^>]*)>,(?: orig_to=<[^>]*>,)? relay=([^,]*),.* status=([a-z]+)(?: \((.*)\))?$`)

// ParseStatus reads one maillog line; ok is false when it is not a
// delivery status.
func ParseStatus(line string) (Status, bool) {
	if !strings.Contains(line, " status=") {
		return Status{}, false
	}
	m := statusLine.FindStringSubmatch(line)
	if m == nil {
		return Status{}, false
	}
	return Status{Program: m[1], QueueID: m[2], To: m[3], Relay: m[4], Status: m[5], Text: m[6]}, true
}

// Statuses reads every delivery status of the instance's maillog, in order.
func (p *Instance) Statuses() ([]Status, error) {
	f, err := os.Open(p.Maillog())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Status
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if s, ok := ParseStatus(sc.Text()); ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

var queuedAs = regexp.MustCompile(`queued as ([0-9A-Za-z]+)`)

// QueuedAs returns the queue id in Postfix's reply to the end of a
// message ("250 2.0.0 Ok: queued as 4XyZ1"), or "".
func QueuedAs(reply string) string {
	if m := queuedAs.FindStringSubmatch(reply); m != nil {
		return m[1]
	}
	return ""
}
