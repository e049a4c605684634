package sa

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds random configuration text to the parser and the rules
// it loads to the evaluation: no panic, no hang, an error or a rule set.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"header A Subject =~ /x/i\nscore A 1\n",
		"ifplugin Mail::SpamAssassin::Plugin::MIMEHeader\nmimeheader B Content-Type =~ /x/\nendif\n",
		"if (version >= 4.0) && !plugin(X)\nbody C /y/\nelse\nbody D /z/\nendif\n",
		"meta E (A + B > 1) && !C || D * 2 - 1\n",
		"replace_tag A [a4]\nreplace_inter W \\W?\nbody F /<inter W><A><A>/\nreplace_rules F\n",
		"header G From:addr !~ /\\@/ [if-unset: x@y]\ntflags G multiple maxhits=2\n",
		"lang de body H /x/\nuri I m{^https?://}i\nrawbody J /=3D/\nfull K /^X/m\n",
		"meta L rules_matching(__*) > 1\n",
		"include other.cf\n",
		"include a.cf\ninclude b.cf\ninclude c.cf\n",
	} {
		f.Add([]byte(s))
	}
	// a few stock files, when there
	for _, name := range []string{"20_head_tests.cf", "25_replace.cf", "72_active.cf"} {
		if b, err := os.ReadFile(filepath.Join("/usr/share/spamassassin", name)); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	m := &fakeMessage{
		headers: map[string]string{"Subject": "x y z\n", "From:addr": "a@b"},
		body:    []string{"x y z\n", "hello world"}, rawbody: []string{"a=3Db"}, full: "X: y\n\nz",
		uris: []string{"http://a/"}, mime: map[string][]PartValue{"Content-Type": {{Value: "text/plain", OK: true}}},
	}
	f.Fuzz(func(t *testing.T, cf []byte) {
		opt := Options{ReadFile: func(string) ([]byte, error) { return cf, nil }} // includes read itself: a loop, bounded
		set, err := Parse("fuzz.cf", cf, opt)
		if err != nil {
			return
		}
		set.Eval(m)
	})
}
