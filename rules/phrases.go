package rules

// Checks on the wording of the Subject and the readable text, by phrase
// family: credential, parcel, prize and payment lures in several
// languages, classic bulk spam, advance-fee fraud and stock pump-and-dump.
// Each family counts distinct phrases (one phrase alone is common in real
// mail; several together are not), all families in one pass per message
// (lureCount) with the literal scan and windows of fold.go.
//
//   - LURE_PHRASES_2, LURE_PHRASES_4, SPAM_PHRASES_2, SPAM_PHRASES_4
//   - ADVANCE_FEE_2, PUMPDUMP, PUMPDUMP_MULTI

func init() {
	register(
		Rule{Name: "LURE_PHRASES_2", Score: 0.8, Kind: KindMIME, Desc: "Two distinct phishing-lure phrases (verify your account, dear customer, click here...)",
			Test: func(m *Message) bool { return lureCount(m).lure >= 2 }},
		Rule{Name: "LURE_PHRASES_4", Score: 2.0, Kind: KindMIME, Desc: "Four or more distinct phishing-lure phrases (adds to LURE_PHRASES_2)",
			Test: func(m *Message) bool { return lureCount(m).lure >= 4 }},
		Rule{Name: "SPAM_PHRASES_2", Score: 0.8, Kind: KindMIME, Desc: "Two distinct bulk-spam phrases (100% free, remove me, risk free...)",
			Test: func(m *Message) bool { return lureCount(m).spam >= 2 }},
		Rule{Name: "SPAM_PHRASES_4", Score: 2.0, Kind: KindMIME, Desc: "Four or more distinct bulk-spam phrases (adds to SPAM_PHRASES_2)",
			Test: func(m *Message) bool { return lureCount(m).spam >= 4 }},
		Rule{Name: "ADVANCE_FEE_2", Score: 1.5, Kind: KindMIME, Desc: "Two or more advance-fee fraud phrases (next of kin, inheritance fund, barrister)",
			Test: func(m *Message) bool { return advanceFeeCount(m) >= 2 }},
		Rule{Name: "PUMPDUMP", Score: 1.0, Kind: KindMIME, Desc: "Stock pump-and-dump wording",
			Test: func(m *Message) bool { return pumpDumpCount(m) >= 1 }},
		Rule{Name: "PUMPDUMP_MULTI", Score: 2.5, Kind: KindMIME, Desc: "Several stock pump-and-dump phrases",
			Test: func(m *Message) bool { return pumpDumpCount(m) >= 3 }},
	)
}

type lureCounts struct {
	lure, spam, advanceFee, pumpDump int
}

// maxLureText caps the text searched for phrases.
const maxLureText = 64 << 10

// lureCount counts the phrases of every family once per message: lure,
// bulk-spam, advance-fee and stock pump-and-dump phrases.
func lureCount(m *Message) lureCounts {
	m.chk.lureOnce.Do(func() { m.chk.lure = computeLureCounts(m) })
	return m.chk.lure
}

func computeLureCounts(m *Message) lureCounts {
	var c lureCounts
	base := m.Decoded("Subject") + "\n" + visibleText(m)
	if len(base) > maxLureText {
		base = base[:maxLureText]
	}
	joined := joinFields(base)
	af := newFoldedText(joined)
	lt := af
	if s := stripInvisible(base); s != base {
		lt = newFoldedText(joinFields(s))
	}
	n := lureSpamGroup.count(lt)
	c.lure, c.spam = n[0], n[1]
	c.advanceFee = advanceFeeGroup.count(af)[0]
	// stock spam names the stock (the words occur in base iff in joined)
	if af.contains("stock") || af.contains("share") || af.contains("otc") || af.contains("ticker") || af.contains("symbol") {
		c.pumpDump = pumpDumpGroup.count(newFoldedText(base))[0]
	}
	return c
}

var (
	lureSpamGroup   = newPhraseGroup(lureREs, spamREs)
	advanceFeeGroup = newPhraseGroup(advanceFeeREs)
	pumpDumpGroup   = newPhraseGroup(pumpDumpREs)
)

func advanceFeeCount(m *Message) int { return lureCount(m).advanceFee }

func pumpDumpCount(m *Message) int { return lureCount(m).pumpDump }

// ---- the phrase families

// lureREs: one entry per distinct lure; a message counts each entry once.
var lureREs = mustPhrases(true,
	// account take-over (en)
	`\b(?:verify|confirm|validate|update|re-?activate|restore|secure|unlock)\s+(?:your|the)\s+(?:account|identity|e-?mail|mailbox|information|details|billing|payment|card|profile|password|access)\b`,
	`\byour\s+(?:account|mailbox|e-?mail|password|card|subscription|membership|payment|access)\s+(?:has\s+been|was|is|will\s+be|is\s+being)\s+(?:suspended|locked|limited|restricted|disabled|closed|deactivated|terminated|blocked|on\s+hold|compromised|cancell?ed|expired|declined|deleted|frozen)`,
	`\bunusual\s+(?:sign[- ]?in|activity|login|log-in)|\bsuspicious\s+(?:activity|sign[- ]?in|login|transaction)|\bsign[- ]?in\s+attempt`,
	`\bpassword\s+(?:will\s+)?expir|\bmailbox\s+(?:is\s+)?(?:full|almost\s+full|quota|storage)|\b(?:storage|quota)\s+(?:is\s+)?(?:full|exceeded|limit)|\bpending\s+(?:incoming\s+)?(?:messages|e-?mails)`,
	`\bdear\s+(?:customer|user|client|member|valued|account\s+holder|sir(?:/|\s+or\s+)madam|beneficiary|subscriber|recipient|friend|winner|shopper)\b`,
	`\bclick\s+(?:here|below|the\s+(?:link|button)\s+below|on\s+the\s+(?:link|button))\b`,
	`\bwithin\s+(?:24|48|72|twenty[- ]four)\s*(?:hours|hrs|h)\b|\bexpires?\s+(?:today|soon|in\s+\d{1,6})|\bfinal\s+(?:notice|warning|reminder)|\blast\s+(?:chance|warning|reminder)`,
	`\b(?:parcel|package|shipment|delivery|order)\s+(?:is\s+|has\s+been\s+)?(?:on\s+hold|pending|waiting|suspended|could\s+not|cannot|returned|undeliverable|failed)|\bdelivery\s+(?:attempt|failed|failure|fee)|\b(?:customs|shipping|redelivery)\s+fee`,
	`\b(?:you\s+(?:have\s+)?(?:won|been\s+(?:selected|chosen))|claim\s+your|redeem\s+your|congratulations)\b`,
	`\b(?:gift\s*card|voucher|reward|prize|cash\s*back|refund)\b.{0,40}\b(?:claim|waiting|pending|eligible|available|collect)`,
	`\b(?:invoice|payment|remittance|wire\s+transfer|transaction)\s+(?:is\s+)?(?:attached|overdue|due|pending|failed|declined|confirmation|receipt|details)`,
	`\b(?:security|account|billing|payment)\s+(?:alert|notice|notification|warning|update|verification)\b`,
	`\b(?:view|open|review|access|download)\s+(?:the\s+|your\s+)?(?:document|invoice|statement|shared\s+file|secure\s+message|voicemail|fax|attachment)\b|\bshared\s+(?:a\s+)?(?:document|file|folder)\s+with\s+you`,
	`\b(?:bitcoin|btc|crypto|usdt|wallet)\b.{0,60}\b(?:address|transfer|send|withdraw|deposit|balance)`,
	`\b(?:act|respond|reply)\s+(?:now|immediately|promptly|urgently)|\bimmediate(?:ly)?\s+action|\baction\s+required\b`,
	`\bfailure\s+to\s+(?:verify|confirm|update|comply|respond)|\b(?:will\s+be|permanently)\s+(?:deleted|suspended|closed|terminated|lost)`,
	// Portuguese
	`\bsua\s+conta\b|\bseu\s+(?:cadastro|acesso|cpf|cart[aã]o)\b|\bsua\s+senha\b`,
	`\bclique\s+(?:aqui|no\s+(?:bot[aã]o|link)|abaixo)|\bacesse\s+(?:agora|j[aá]|o\s+link|aqui)`,
	`\batualiz(?:e|ar|a[cç][aã]o)\s+(?:de\s+|seus\s+|os\s+|sua\s+)?(?:dados|cadastro|conta)|\bregulariz(?:e|ar|a[cç][aã]o)\b|\bpend[eê]ncia`,
	`\bboleto\b|\bchave\s+pix\b|\bvia\s+pix\b|\bfatura\s+(?:em\s+aberto|vencida|pendente)`,
	`\bprezad[oa]\s+(?:cliente|usu[aá]rio|senhor)|\bvoc[eê]\s+(?:ganhou|foi\s+selecionad)|\bparab[eé]ns\b|\bpr[eê]mio\b|\bresgat(?:e|ar)\b`,
	`\b(?:bloquead[oa]|suspens[oa]|cancelad[oa])\b.{0,40}\b(?:conta|cart[aã]o|acesso|cpf)|\bencomenda\b.{0,40}\b(?:retida|aguardando|taxa)`,
	// Spanish
	`\bsu\s+cuenta\b|\btu\s+cuenta\b|\b(?:haga|haz)\s+clic\b|\bestimad[oa]\s+(?:cliente|usuario)|\bactualice\s+sus\s+datos|\bverifique\s+su`,
	`\b(?:suspendid[oa]|bloquead[oa])\b|\bfelicidades\b|\bganador\b|\bsu\s+paquete\b|\bsu\s+(?:env[ií]o|pedido)\s+(?:est[aá]|no)`,
	// German
	`\bihr\s+konto\b|\bihre\s+(?:zahlung|sendung|karte|daten)\b|\bbest[aä]tigen\s+sie\b|\bklicken\s+sie\b|\baktualisieren\s+sie\b|\bsehr\s+geehrte[rs]?\s+(?:kunde|kundin|nutzer)`,
	`\bgesperrt\b|\bgewinner(?:in)?\b|\bausgew[aä]hlt\b|\bgutschein\b|\bsicherheitspr[uü]fung\b`,
	// French and Italian
	`\bvotre\s+compte\b|\bcliquez\s+ici\b|\bcher\s+client|\bmettre\s+[aà]\s+jour\s+vos|\bv[ée]rifie[rz]\s+vos|\bvotre\s+colis\b|\bf[ée]licitations\b`,
	`\bil\s+tuo\s+account\b|\bclicca\s+qui\b|\bgentile\s+cliente\b|\bil\s+tuo\s+pacco\b|\bcongratulazioni\b`,
)

// spamREs: classic bulk-spam wording (SpamAssassin's 20_body_tests.cf and
// 20_phrases.cf spirit): one entry per phrase family.
var spamREs = mustPhrases(true,
	`\b100%\s+(?:free|guaranteed|satisfaction|natural|legal|safe)`,
	`\brisk[- ]free\b|\bno\s+risk\b|\bmoney[- ]back\s+guarantee`,
	`\b(?:to\s+be\s+removed|remove\s+me|removal\s+instructions|to\s+unsubscribe\s+reply|reply\s+with\s+["']?remove|remove\s+in\s+the\s+subject|click\s+here\s+to\s+(?:be\s+)?remove)`,
	`\bthis\s+is\s+not\s+(?:a\s+)?spam\b|\bnot\s+unsolicited\b|\bbill\s+s\.?\s*1618\b|\bunder\s+bill\b`,
	`\b(?:order|call|buy|act|apply|sign\s+up)\s+(?:now|today)\b`,
	`\blimited[- ]time\s+(?:offer|only)|\bonly\s+\d{1,6}\s+(?:left|spots|remaining)|\bwhile\s+supplies\s+last`,
	`\bno\s+(?:obligation|credit\s+check|hidden\s+(?:fees|costs)|purchase\s+necessary|catch|strings\s+attached)`,
	`\b(?:make|earn)\s+(?:money|\$\d|up\s+to\s+\$|extra\s+(?:cash|income))|\bwork\s+(?:from|at)\s+home\b|\bhome[- ]based\s+business|\bfinancial\s+freedom|\bextra\s+income`,
	`\b(?:lowest|best)\s+(?:rates?|prices?|mortgage)|\brefinanc|\bmortgage\s+rates?|\bdebt\s+(?:relief|consolidation|free)|\bcredit\s+(?:repair|score)`,
	`\b(?:viagra|cialis|levitra|pharmacy|pills?|prescription|erectile|enlarge|penis|libido)\b`,
	`\b(?:lose|losing)\s+(?:weight|\d{1,4}\s*(?:lbs|pounds|kg))|\bweight\s+loss\b|\bketo\b|\bfat\s+burn`,
	`\b(?:casino|jackpot|lottery|sweepstakes|free\s+spins|bonus\s+spins)\b`,
	`\b(?:e-?mail\s+addresses|bulk\s+e-?mail|mass\s+e-?mail|opt[- ]?in\s+list)\b.{0,40}\b(?:million|targeted|fresh|send)`,
	`\b(?:hot|lonely|sexy)\s+(?:singles|girls|women|moms)|\badult\s+(?:site|content|entertainment)`,
	`\bdouble\s+your\b|\binvestment\s+opportunity|\bguaranteed\s+(?:income|returns?|results)|\bpassive\s+income`,
	`\bdon'?t\s+(?:miss\s+(?:out|this)|delete\s+this)|\bonce\s+in\s+a\s+lifetime|\bexclusive\s+(?:offer|deal|access)`,
	`\b(?:free|complimentary)\s+(?:gift|trial|sample|quote|consultation|access|shipping)\b`,
	`\b(?:special|exclusive)\s+(?:promotion|discount)|\b\d{2}%\s+off\b|\bsave\s+(?:up\s+to\s+)?\d{2}%`,
)

var advanceFeeREs = mustPhrases(true,
	`\bnext\s+of\s+kin\b`,
	`\b(?:inheritance|unclaimed|dormant|abandoned)\s+(?:fund|account|sum|deposit|estate)`,
	`\b(?:barrister|attorney|solicitor)\b.{0,80}\b(?:late|deceased|client)\b`,
	`\b(?:sum|amount|fund|funds)\s+of\s+(?:us\s*)?\$?\s?\d[\d,.]{0,20}\s*(?:million|m\b)|\b\d{1,12}(?:\.\d{1,6})?\s+million\s+(?:us\s+)?(?:dollars|usd|euros|pounds)`,
	`\b(?:consignment|diplomat(?:ic)?|atm\s+card|bank\s+draft|compensation\s+(?:fund|payment))\b`,
	`\b(?:strictly\s+confidential|utmost\s+(?:confidentiality|secrecy)|absolute\s+confidentiality)\b`,
	`\b(?:your\s+(?:urgent|prompt|swift|immediate)\s+(?:reply|response|attention)|reply\s+(?:urgently|asap))\b`,
	`\b(?:business\s+proposal|mutual\s+benefit|transfer\s+(?:of\s+)?(?:the\s+)?funds?|foreign\s+partner)\b`,
	`\b(?:widow|deceased|late\s+husband|terminal(?:ly)?\s+ill|cancer)\b.{0,120}\b(?:fund|donate|charity|money)`,
	`\b(?:united\s+nations|world\s+bank|imf|fbi)\b.{0,80}\b(?:payment|fund|compensation|beneficiary)`,
	`\bbeneficiary\b`,
)

// ---- pump and dump (SpamAssassin sandbox jhardin __PUMPDUMP_01..10)

var pumpDumpREs = mustPhrases(false,
	`\bstock (?:is )?(?:set|going|about|poised|expected|ready) to (?:soar|explode|skyrocket|triple|double|take off)`,
	`\b(?:will|could|to) (?:soar|explode|skyrocket|triple|double)\b.{0,40}\b(?:stock|shares|price)`,
	`\bbuy (?:it |shares )?(?:before|by) (?:the )?(?:monday|tuesday|wednesday|thursday|friday|market) ?(?:open|morning|close)?`,
	`\btrading at (?:a )?(?:bargain|discount|steal)`,
	`\bgrab (?:as many|all the) shares`,
	`\b(?:stock|pick) of the (?:year|month|decade)\b`,
	`\b(?:symbol|ticker)\s{0,4}:?\s{0,4}[A-Z]{3,5}\b.{0,80}\b(?:cents|\$0\.\d\d)`,
	`\b(?:otc|pink ?sheets?|otcbb)\b.{0,60}\b(?:alert|pick|breakout|soar)`,
	`\bnext (?:hot )?(?:big|hot) (?:stock|winner)\b`,
	`\b(?:strong|massive|huge) (?:buy|upside)\b.{0,40}\b(?:stock|shares|target)`,
)
