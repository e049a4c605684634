package rules

// Table cases of phrases.go (run by TestChecksTable).
func init() { checkCases = append(checkCases, phrasesCases...) }

var phrasesCases = []checkCase{
	{"LURE_PHRASES_2",
		textBody("Dear Customer, please verify your account today. " + longText),
		textBody("Please verify your account settings before the release. " + longText)},
	{"LURE_PHRASES_4",
		textBody("Dear Customer, unusual sign-in activity was detected. Your account has been suspended. Click here to verify your account within 24 hours."),
		textBody("Dear Customer, your account has been suspended. " + longText)},
	{"SPAM_PHRASES_2",
		textBody("Work from home and earn extra income! 100% free to join. " + longText),
		textBody("This release is 100% free software. " + longText)},
	{"SPAM_PHRASES_4",
		textBody("Work from home! 100% free, risk-free, no obligation. Order now. To be removed reply with remove."),
		textBody("Work from home! 100% free. " + longText)},
	{"ADVANCE_FEE_2",
		textBody("I am a barrister to the late client. As his next of kin you may claim the inheritance fund."),
		textBody("Next of kin must be named on the form. " + longText)},
	{"PUMPDUMP", checkEdit{body: "This stock is set to explode next week.\n"}, checkEdit{body: "The stock room is set to close next week.\n"}},
	{"PUMPDUMP_MULTI", checkEdit{body: "This stock is set to explode. Stock of the year! It is trading at a bargain, buy before Monday open.\n"},
		checkEdit{body: "This stock is set to explode next week.\n"}},
}
