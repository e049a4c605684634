package rules

// Table cases of envelope.go (run by TestChecksTable).
func init() { checkCases = append(checkCases, envelopeCases...) }

var envelopeCases = []checkCase{
	// HELO (RFC 5321 4.1.1.1)
	{"HELO_BARE_IP", helo("[93.184.216.34]"), helo("mail.example.org")},
	{"HELO_BAD_IP", helo("[192.168.1.1]"), helo("[93.184.216.34]")},
	{"HELO_NOT_FQDN", helo("ANNA"), helo("anna.example.org")},
	{"HELO_LOCALHOST", helo("localhost.localdomain"), helo("localhost-relay.example.org")},
	{"HELO_DYNAMIC", helo("93-184-216-34.dsl.example.net"), helo("mail2.example.net")},
	{"HELO_FAKE_PROVIDER", helo("mail.yahoo.com"), envOnly(func(e *Envelope) { e.Helo, e.ClientName = "mail.yahoo.com", "sonic301-2.consmr.mail.gq1.yahoo.com" })},
	{"HELO_NE_RDNS", helo("mail.example.com"), helo("smtp.example.org")},

	// the client's reverse DNS (Postfix's client name)
	{"RDNS_NONE", rdns("unknown"), rdns("")},
	{"RDNS_DYNAMIC", rdns("pool-93-184-216-34.bstn.east.example.net"), rdns("mail-93.example.net")},

	// MAIL FROM
	{"NULL_SENDER_NOT_BOUNCE", envOnly(func(e *Envelope) { e.MailFrom = "" }),
		checkEdit{hdr: []string{"From: Mail Delivery System <MAILER-DAEMON@example.org>"}, env: func(e *Envelope) { e.MailFrom = "" }}},
	{"ENVFROM_FORGED_PROVIDER", envOnly(func(e *Envelope) { e.MailFrom = "someone@gmail.com" }),
		envOnly(func(e *Envelope) {
			e.MailFrom, e.ClientName, e.Helo = "someone@gmail.com", "mail-ed1-f54.google.com", "mail-ed1-f54.google.com"
		})},
}
