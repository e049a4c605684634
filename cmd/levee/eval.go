package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
)

func init() {
	extraCommands["eval"] = cmdEval
}

const evalUsage = `usage: levee eval [--config FILE] [--dns] [--html FILE] [-j N] DIR|FILE.tar.gz
       levee eval [flags] --ham DIR --spam DIR
       levee eval --fit [--out FILE] [flags] DIR|FILE.tar.gz

DIR (or a .tar.gz of it) holds ham/, spam/ and envelope.jsonl. Prints the
confusion matrix at the tag and reject thresholds (overall and per source),
per-check hit frequencies and the worst misses, and writes an HTML report.
--fit fits the default scores of the built-in checks and writes them as Go.
`

func cmdEval(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, evalUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "config file (default: the embedded default config)")
	useDNS := fs.Bool("dns", false, "query the configured DNS blocklists (off by default: offline)")
	htmlPath := fs.String("html", "levee-eval.html", "write the HTML report here (empty: none)")
	workers := fs.Int("j", runtime.NumCPU(), "messages judged in parallel")
	ham := fs.String("ham", "", "folder of ham messages (envelope from the topmost Received field)")
	spam := fs.String("spam", "", "folder of spam messages")
	worst := fs.Int("worst", 10, "false positives and negatives listed in the terminal")
	fit := fs.Bool("fit", false, "fit the default scores of the built-in checks on the corpus")
	out := fs.String("out", "rules/scores_fitted.go", "with --fit: the Go file to write (empty: print only)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := eval.Corpus{Ham: *ham, Spam: *spam}
	switch {
	case fs.NArg() == 1 && *ham == "" && *spam == "":
		c.Dir = fs.Arg(0)
	case fs.NArg() == 0 && (*ham != "" || *spam != ""):
	default:
		fs.Usage()
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	rc := cfg.Rules
	if *fit {
		// Every built-in check must run, whatever its current score, to get
		// its hit vector; the scores are put back when figures are printed.
		rc.Scores = map[string]float64{}
		for k, v := range cfg.Rules.Scores {
			rc.Scores[k] = v
		}
		for _, r := range rules.Builtin() {
			rc.Scores[r.Name] = 1
		}
	}
	e, err := rules.NewEngine(rc, rules.Options{NoDNS: !*useDNS, Logger: newLogger(LogConfig{Level: "error"}, stderr)})
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	defer e.Close()

	ctx, cancel := signalContext()
	defer cancel()
	var prog eval.Progress
	stop := startProgress(ctx, stderr, &prog)
	res, err := eval.Run(ctx, e, c, eval.Options{Workers: *workers, Progress: &prog})
	stop()
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	if *fit {
		return evalFit(res, cfg.Rules.Scores, *out, stdout, stderr)
	}
	res.WriteText(stdout, *worst)
	if *htmlPath != "" {
		if err := writeHTMLReport(res, *htmlPath); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		fmt.Fprintf(stdout, "\nHTML report: %s\n", *htmlPath)
	}
	return 0
}

func writeHTMLReport(res *eval.Result, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := res.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// evalFit fits the scores, prints the before/after figures and writes the
// Go file. overrides are the config's scores: they apply before and after.
func evalFit(res *eval.Result, overrides map[string]float64, out string, stdout, stderr io.Writer) int {
	var names []string
	before := map[string]float64{}
	for _, r := range rules.Builtin() {
		names = append(names, r.Name)
		before[r.Name] = r.Score
	}
	fr, err := eval.Fit(res, names, eval.DefaultFitOptions())
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	after := map[string]float64{}
	for k, v := range fr.Scores {
		after[k] = v
	}
	for k, v := range overrides {
		before[k], after[k] = v, v
	}
	fr.WriteSummary(stdout)
	fmt.Fprintln(stdout, "\nbefore (current default scores):")
	res.Rescore(before).WriteConfusion(stdout)
	fmt.Fprintln(stdout, "\nafter (fitted scores):")
	res.Rescore(after).WriteConfusion(stdout)
	if len(overrides) > 0 {
		fmt.Fprintln(stdout, "(the config's scores: overrides apply to both)")
	}
	if out == "" {
		return 0
	}
	src, err := fr.GoSource()
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", out)
	return 0
}

// startProgress draws a progress bar on stderr when it is a terminal and
// the run takes longer than a second; the returned func clears it.
func startProgress(ctx context.Context, w io.Writer, p *eval.Progress) (stop func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		drawn := false
		for {
			stopped := false
			select {
			case <-done:
				stopped = true
			case <-ctx.Done():
				stopped = true
			case <-tick.C:
			}
			if stopped {
				if drawn {
					fmt.Fprint(f, "\r\033[K") // clear the bar before the summary or an error
				}
				return
			}
			el := time.Since(start)
			if el < time.Second {
				continue
			}
			drawn = true
			n, total := p.Done.Load(), p.Total.Load()
			width := 40
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				width = max(10, min(60, cols-50))
			}
			if total <= 0 {
				fmt.Fprintf(f, "\r\033[Kjudged %d messages (%s)", n, el.Round(time.Second))
				continue
			}
			frac := min(1, float64(n)/float64(total))
			bar := strings.Repeat("#", int(frac*float64(width))) + strings.Repeat(".", width-int(frac*float64(width)))
			eta := ""
			if n > 0 {
				eta = ", " + (time.Duration(float64(el)/frac) - el).Round(time.Second).String() + " left"
			}
			fmt.Fprintf(f, "\r\033[K[%s] %d/%d %3.0f%%%s", bar, n, total, 100*frac, eta)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
