package rules

// Table cases of the phishing, lure and sender checks (checks_phish.go,
// checks_lure.go, checks_sender.go); they run in TestChecksTable.
func init() { checkCases = append(checkCases, phishCases...) }

const htmlHdr = "Content-Type: text/html; charset=utf-8"

// htmlBody is an HTML-only message with body b.
func htmlBody(b string, h ...string) checkEdit {
	return checkEdit{hdr: append([]string{htmlHdr}, h...), body: "<html><body>" + b + "</body></html>\n"}
}

func textBody(b string, h ...string) checkEdit { return checkEdit{hdr: h, body: b + "\n"} }

const longText = "Here is the report on the quarterly numbers you asked about last week, with the charts for each region and the notes from the meeting."

var phishCases = []checkCase{}
