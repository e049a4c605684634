package rules

// Table cases of received.go (run by TestChecksTable).
func init() { checkCases = append(checkCases, receivedCases...) }

var receivedCases = []checkCase{
	{"RCVD_ILLEGAL_IP", hdr("+Received: from pc (pc [0.1.2.3]) by mail.example.org; Tue, 2 Jan 2024 09:59:40 +0000"),
		hdr("+Received: from pc (pc [10.1.2.3]) by mail.example.org; Tue, 2 Jan 2024 09:59:40 +0000")},
	{"RCVD_DOUBLE_IP", hdr("+Received: from 81.2.69.142 by 93.184.216.34; Tue, 2 Jan 2024 09:59:40 +0000"),
		hdr("+Received: from [81.2.69.142] by mail.example.org; Tue, 2 Jan 2024 09:59:40 +0000")},
	{"RCVD_DATE_FORGED", hdr("+Received: from pc by mail.example.org; Fri, 5 Jan 2024 09:59:40 +0000"),
		hdr("+Received: from pc by mail.example.org; Tue, 2 Jan 2024 10:30:40 +0000")},
	{"ONCE_RECEIVED_DYNAMIC",
		checkEdit{hdr: []string{"Received: from [192.168.1.20] (unknown [81.2.69.142]) by mx.example.net; Tue, 2 Jan 2024 10:00:00 +0000", "Received:"},
			env: func(e *Envelope) { e.ClientName, e.Helo = "unknown", "[192.168.1.20]" }},
		checkEdit{env: func(e *Envelope) { e.ClientName, e.Helo = "unknown", "[192.168.1.20]" }}},
	{"FORGED_GMAIL_RCVD", hdr("From: <someone@gmail.com>"),
		hdr("From: <someone@gmail.com>", "+Received: by mail-ed1-f54.google.com with SMTP id x; Tue, 2 Jan 2024 09:59:40 +0000")},
	{"FORGED_GMAIL_RCVD", hdr("From: <someone@gmail.com>"), // a post made on the list server's web archive
		hdr("From: <someone@gmail.com>", "+Received: from lists.example.org (localhost [127.0.0.1]) by lists.example.org; Tue, 2 Jan 2024 09:59:40 +0000")},
	{"FORGED_YAHOO_RCVD", hdr("From: <someone@yahoo.com>"),
		hdr("From: <someone@yahoo.com>", "+Received: from sonic.gate.mail.ne1.yahoo.com by sonic301.consmr.mail.gq1.yahoo.com; Tue, 2 Jan 2024 09:59:40 +0000")},
	{"FORGED_HOTMAIL_RCVD", hdr("From: <someone@hotmail.com>"),
		hdr("From: <someone@hotmail.com>", "+Received: from DM6PR01MB1234.namprd01.prod.outlook.com by DM6PR01MB1235.namprd01.prod.outlook.com with HTTPS; Tue, 2 Jan 2024 09:59:40 +0000")},
	{"FORGED_AOL_RCVD", hdr("From: <someone@aol.com>"),
		checkEdit{hdr: []string{"From: <someone@aol.com>"}, env: func(e *Envelope) { e.ClientName = "sonic314-20.consmr.mail.gq1.yahoo.com" }}},
	{"FORGED_ICLOUD_RCVD", hdr("From: <someone@icloud.com>"),
		hdr("From: <someone@icloud.com>", "+Received: from outgoing.mail.icloud.com by p00-icloudmta.apple.com; Tue, 2 Jan 2024 09:59:40 +0000")},
}
