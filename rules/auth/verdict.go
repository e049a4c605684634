package auth

import (
	"strings"
)

var spfRules = map[string]string{
	"pass": SPFPass, "fail": SPFFail, "softfail": SPFSoftFail, "neutral": SPFNeutral,
	"none": SPFNone, "permerror": SPFPermError, "temperror": SPFTempError,
}

var dkimRules = map[string]string{
	"pass": DKIMValid, "fail": DKIMInvalid, "policy": DKIMLength, "neutral": DKIMPermError,
	"permerror": DKIMPermError, "temperror": DKIMTempError,
}

// finish derives the hits, the Authentication-Results value, the DMARC
// action and on_error's tempfail from the results, and counts them.
func (c *Checker) finish(r *Result) {
	seen := map[string]bool{}
	add := func(rule string) {
		if rule == "" || seen[rule] {
			return
		}
		seen[rule] = true
		desc := ruleIndex[rule].Desc
		r.Hits = append(r.Hits, Hit{Rule: rule, Score: c.scores[rule], Desc: desc})
	}
	temp := false
	if r.SPF.Result != "" {
		add(spfRules[r.SPF.Result])
		temp = temp || r.SPF.Result == "temperror"
		c.m.count("spf", r.SPF.Result)
	}
	if r.DKIMChecked {
		if len(r.DKIM) == 0 {
			add(DKIMNone)
			c.m.count("dkim", "none")
		}
		for i := range r.DKIM {
			d := &r.DKIM[i]
			if d.Rule == "" {
				d.Rule = dkimRules[d.Result]
				d.Aligned = aligned(d.Domain, r.DMARC.From, "r")
			}
			add(d.Rule)
			if d.Result == "pass" && d.Aligned {
				add(DKIMValidAU)
			}
			temp = temp || d.Result == "temperror"
			c.m.count("dkim", d.Result)
		}
	}
	switch r.DMARC.Result {
	case "":
	case "pass":
		add(DMARCPass)
	case "fail":
		switch r.DMARC.Policy {
		case "reject":
			add(DMARCReject)
			switch c.cfg.DMARCReject {
			case "reject":
				r.Action = ActionReject
				r.Reply = "550 5.7.1 " + replyText("Message from "+r.DMARC.From+" rejected by its DMARC policy (p=reject)")
			case "quarantine":
				r.Action = ActionQuarantine
			}
		case "quarantine":
			add(DMARCQuar)
			if c.cfg.DMARCQuarantine == "quarantine" {
				r.Action = ActionQuarantine
			}
		default:
			add(DMARCNone)
		}
	case "none":
		add(DMARCMissing)
	case "temperror":
		add(DMARCTempError)
		temp = true
	default:
		add(DMARCPermError)
	}
	c.m.count("dmarc", r.DMARC.Result)
	if temp {
		r.Errors = append(r.Errors, "auth: DNS failure (temperror)")
		r.TempFail = c.cfg.OnError == "tempfail"
	}
	r.Header = formatAuthResults(c.cfg.AuthservID, r)
}

// replyText keeps an SMTP reply printable and short ('%' doubled for the
// milter protocol).
func replyText(s string) string {
	var b strings.Builder
	for _, ch := range s {
		switch {
		case ch == '%':
			b.WriteString("%%")
		case ch < ' ' || ch > '~':
			b.WriteByte(' ')
		default:
			b.WriteRune(ch)
		}
		if b.Len() > 400 {
			break
		}
	}
	return b.String()
}
