package rules

// The providers and domains the checks know: the freemail domains anyone
// can sign up with (FREEMAIL_FORGED_REPLYTO, FREEMAIL_HTML_ONLY,
// FROM_NAME_SERVICE), the big providers whose users' mail always leaves
// through their own servers (ENVFROM_FORGED_PROVIDER, HELO_FAKE_PROVIDER,
// FORGED_*_RCVD), and the free hosting domains and abused top-level
// domains of links and From addresses (URI_FREE_HOSTING, FROM_FREE_HOSTING,
// URI_ABUSED_TLD, FROM_ABUSED_TLD).

import "strings"

// freemailDomains are mailbox providers anyone can sign up with for free
// (the core of SpamAssassin's 20_freemail_domains.cf and rspamd's
// freemail map). The list is short on purpose: it names the providers big
// enough to be abused at scale.
var freemailDomains = map[string]bool{}

func init() {
	for _, d := range strings.Fields(`
		gmail.com googlemail.com
		yahoo.com yahoo.co.uk yahoo.co.in yahoo.co.jp yahoo.com.br yahoo.fr yahoo.de
		yahoo.es yahoo.it yahoo.ca yahoo.com.au yahoo.com.mx yahoo.com.ar yahoo.co.id
		ymail.com rocketmail.com
		hotmail.com hotmail.co.uk hotmail.fr hotmail.de hotmail.it hotmail.es
		outlook.com outlook.fr outlook.de outlook.es live.com live.co.uk live.fr msn.com
		aol.com aim.com
		icloud.com me.com mac.com
		gmx.com gmx.de gmx.net gmx.at gmx.ch web.de
		mail.com email.com usa.com post.com
		yandex.com yandex.ru ya.ru
		mail.ru inbox.ru list.ru bk.ru
		protonmail.com proton.me pm.me
		zoho.com zohomail.com
		tutanota.com tuta.io
		qq.com 163.com 126.com sina.com yeah.net
		naver.com daum.net hanmail.net
		rediffmail.com
		libero.it virgilio.it tiscali.it
		laposte.net orange.fr free.fr sfr.fr wanadoo.fr
		t-online.de freenet.de
		seznam.cz wp.pl o2.pl interia.pl onet.pl
		rambler.ru
		hushmail.com lycos.com excite.com juno.com netscape.net
		uol.com.br bol.com.br terra.com.br ig.com.br
	`) {
		freemailDomains[d] = true
	}
}

// isFreemail reports whether the domain (of an address) is a freemail provider.
func isFreemail(domain string) bool { return freemailDomains[strings.ToLower(domain)] }

// bigProvider describes a big mailbox provider: the domains its users
// have, and the domains of the host names its mail servers use (reverse
// DNS, HELO and the "by" of its Received fields).
type bigProvider struct {
	name    string
	domains []string // user domains (exact)
	hosts   []string // registrable domains of its mail servers
}

var bigProviders = []bigProvider{
	{"GMAIL", []string{"gmail.com", "googlemail.com"}, []string{"google.com", "gmail.com", "googlemail.com"}},
	{"YAHOO", []string{"yahoo.com", "yahoo.co.uk", "yahoo.co.in", "yahoo.co.jp", "yahoo.com.br", "yahoo.fr", "yahoo.de",
		"yahoo.es", "yahoo.it", "yahoo.ca", "yahoo.com.au", "ymail.com", "rocketmail.com"},
		[]string{"yahoo.com", "yahoo.net", "yahoodns.net", "yahoo.co.jp", "yahoo.co.uk"}},
	{"HOTMAIL", []string{"hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es",
		"outlook.com", "live.com", "live.co.uk", "live.fr", "msn.com"},
		[]string{"outlook.com", "hotmail.com", "live.com", "msn.com", "microsoft.com"}},
	{"AOL", []string{"aol.com", "aim.com"}, []string{"aol.com", "aol.net", "yahoodns.net", "yahoo.com"}},
	{"ICLOUD", []string{"icloud.com", "me.com", "mac.com"}, []string{"icloud.com", "me.com", "mac.com", "apple.com"}},
}

// providerOf returns the big provider whose users have this address domain.
func providerOf(domain string) *bigProvider {
	domain = strings.ToLower(domain)
	for i := range bigProviders {
		for _, d := range bigProviders[i].domains {
			if d == domain {
				return &bigProviders[i]
			}
		}
	}
	return nil
}

// providerOfHost returns the big provider whose user domains or server
// domains contain the host name (the name itself or a parent).
func providerOfHost(host string) *bigProvider {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for i := range bigProviders {
		p := &bigProviders[i]
		for _, d := range p.domains {
			if host == d || strings.HasSuffix(host, "."+d) {
				return p
			}
		}
		for _, d := range p.hosts {
			if host == d || strings.HasSuffix(host, "."+d) {
				return p
			}
		}
	}
	return nil
}

// ownsHost reports whether a host name belongs to the provider's servers
// (or its user domains: smtp.gmail.com).
func (p *bigProvider) ownsHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	for _, l := range [][]string{p.hosts, p.domains} {
		for _, d := range l {
			if host == d || strings.HasSuffix(host, "."+d) {
				return true
			}
		}
	}
	return false
}

// ---- where anyone can host a page, and the top-level domains of abuse

// freeHosting: domains where anyone can publish a page or a file in
// minutes, under the provider's name.
var freeHosting = setOf(`web.app firebaseapp.com firebasestorage.googleapis.com storage.googleapis.com
	blob.core.windows.net web.core.windows.net azurewebsites.net r2.dev pages.dev workers.dev
	ipfs.io dweb.link cloudflare-ipfs.com ipfs.w3s.link nftstorage.link fleek.co
	netlify.app vercel.app glitch.me herokuapp.com onrender.com fly.dev repl.co replit.app
	000webhostapp.com weebly.com wixsite.com webflow.io godaddysites.com square.site
	sites.google.com forms.gle script.google.com
	s3.amazonaws.com amazonaws.com digitaloceanspaces.com backblazeb2.com
	surge.sh ngrok.io ngrok-free.app trycloudflare.com
	sharepoint.com 1drv.ms onedrive.live.com my.canva.site canva.site
	typeform.com jotform.com formstack.com wufoo.com myportfolio.com
	framer.app framer.website notion.site gitbook.io carrd.co mystrikingly.com
	tilda.ws webnode.page jimdosite.com site123.me yolasite.com`)

func freeHostingHost(h string) bool { return hostIn(h, freeHosting) }

// abusedTLDs: top-level domains where most registrations seen in mail are
// spam or phishing (Spamhaus' and Interisle's most-abused TLD reports).
var abusedTLDs = setOf(`top xyz shop click online site space buzz icu sbs cfd rest monster quest bond store fun
	cyou cam lol mom beauty hair skin makeup boats autos yachts motorcycles pics best uno loan win bid
	date racing review stream download trade accountant cricket science party faith men gq cf tk ml ga
	zip mov country xin pw su work surf fit today life club vip ink kim casa bar wang`)

func abusedTLDHost(h string) bool {
	i := strings.LastIndexByte(h, '.')
	if i < 0 || h == "" {
		return false
	}
	return abusedTLDs[h[i+1:]]
}
