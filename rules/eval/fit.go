package eval

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/levee-mail/levee/rules"
)

// FitOptions tune Fit. The defaults (DefaultFitOptions) are what
// `levee eval --fit` uses.
type FitOptions struct {
	// L2 and L1 are the penalties on the weights (the loss is the weighted
	// mean log-loss, weights summing to 1). L1 turns off checks that add
	// little: with non-negative weights it is a constant pull to 0.
	L2, L1 float64
	// Iterations of accelerated projected gradient descent (fixed: the fit
	// is deterministic).
	Iterations int
	// HamWeight is the total weight of the ham relative to the spam (> 1
	// makes false positives costlier).
	HamWeight float64
	// TargetP is the spam probability the tag threshold must sit at or
	// above: the scale is at most Tag / (logit(TargetP) - bias).
	TargetP float64
	// MaxHamRate is the share of each ham source the fitted scores may flag
	// at the tag threshold; no ham may reach the reject threshold.
	MaxHamRate float64
	// Margin: those limits must still hold with every score multiplied by
	// Margin, so they are not met by a hair on this corpus only.
	Margin float64
	// Max and Min bound a check's score: no check reaches the reject
	// threshold alone, and a check that helps at all keeps at least Min.
	Max, Min float64
}

// DefaultFitOptions are the options of `levee eval --fit`.
func DefaultFitOptions() FitOptions {
	return FitOptions{
		// A false positive costs five misses; light L2 (the caps bound the
		// scores anyway), a little L1 to switch off checks that add nothing.
		L2: 1e-3, L1: 2e-4, Iterations: 20000, HamWeight: 5,
		TargetP: 0.9, MaxHamRate: 0.001, Margin: 1.1, Max: 4.0, Min: 0.1,
	}
}

// FitResult is a fit: the logistic weights, the scale to points and the
// bounded scores.
type FitResult struct {
	Opt     FitOptions
	Rules   []string  // sorted
	Weights []float64 // per rule, logit units, >= 0
	Bias    float64   // logit of a message that hits nothing
	// Scale is points per logit unit; ScaleP the largest the TargetP rule allows.
	Scale, ScaleP float64
	Scores        map[string]float64 // bounded, rounded, per rule
	Messages      int
	// Met says whether the ham limits hold at Scale (false: even the
	// smallest scale tried did not meet them).
	Met bool
	// Loss is the final penalised loss.
	Loss    float64
	res     *Result
	spamPct map[string]float64
	hamPct  map[string]float64
}

type fitRow struct {
	x []int // hit rule indices, sorted
	w float64
	y float64 // 1 spam, 0 ham
}

// Fit fits the scores of the named checks on res, which must hold the hits
// of every one of them (judge with each at a non-zero score). Method:
// L2-regularised (plus a small L1) logistic regression on the 0/1 hit
// vectors with non-negative weights, each source weighted equally within
// its class, solved by a fixed number of accelerated projected gradient
// steps; then scaled to points (see FitOptions.TargetP, MaxHamRate,
// Margin), bounded to [0, Max] (at least Min when the weight is not 0) and
// rounded to 0.1. The same input gives the same scores, bit for bit.
func Fit(res *Result, names []string, opt FitOptions) (*FitResult, error) {
	names = append([]string(nil), names...)
	sort.Strings(names)
	col := map[string]int{}
	for i, n := range names {
		col[n] = i
	}
	// Per-source example weights: each class totals 1 (ham: HamWeight),
	// shared equally by its sources.
	type cs struct {
		c Class
		s string
	}
	size := map[cs]int{}
	sources := map[Class]map[string]bool{Ham: {}, Spam: {}}
	for _, m := range res.Messages {
		if m.Err == "" {
			size[cs{m.Class, m.Source}]++
			sources[m.Class][m.Source] = true
		}
	}
	if len(sources[Ham]) == 0 || len(sources[Spam]) == 0 {
		return nil, errors.New("fit: the corpus needs both ham and spam")
	}
	agg := map[string]*fitRow{}
	var keys []string
	n := 0
	for _, m := range res.Messages {
		if m.Err != "" {
			continue
		}
		n++
		var x []int
		for _, h := range m.Hits {
			if j, ok := col[h.Name]; ok {
				x = append(x, j)
			}
		}
		sort.Ints(x)
		cw := 1.0
		if m.Class == Ham {
			cw = opt.HamWeight
		}
		w := cw / float64(len(sources[m.Class])) / float64(size[cs{m.Class, m.Source}])
		var kb strings.Builder
		kb.WriteString(m.Class.String())
		for _, j := range x {
			kb.WriteByte(',')
			kb.WriteString(strconv.Itoa(j))
		}
		k := kb.String()
		if r := agg[k]; r != nil {
			r.w += w
			continue
		}
		agg[k] = &fitRow{x: x, w: w, y: float64(m.Class)}
		keys = append(keys, k)
	}
	sort.Strings(keys) // a fixed summation order
	rows := make([]fitRow, len(keys))
	var total float64
	maxNorm := 0
	for i, k := range keys {
		rows[i] = *agg[k]
		total += rows[i].w
		maxNorm = max(maxNorm, len(rows[i].x))
	}
	for i := range rows {
		rows[i].w /= total
	}
	beta, bias, loss := solve(rows, len(names), opt)

	fr := &FitResult{Opt: opt, Rules: names, Weights: beta, Bias: bias, Messages: n, Loss: loss, res: res}
	fr.hitRates()
	if err := fr.chooseScale(); err != nil {
		return nil, err
	}
	return fr, nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// log1pexp is log(1+e^z) without overflow.
func log1pexp(z float64) float64 {
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

// solve minimises sum_r w_r*logloss(y_r, b + beta.x_r) + L2/2*|beta|^2 +
// L1*sum(beta) over beta >= 0 (b free) with FISTA: projected gradient steps
// of 1/L, L = max_r |(1,x_r)|^2 / 4 + L2 bounding the curvature.
func solve(rows []fitRow, nf int, opt FitOptions) (beta []float64, bias, loss float64) {
	maxSq := 1.0
	for _, r := range rows {
		maxSq = math.Max(maxSq, float64(1+len(r.x)))
	}
	step := 1 / (maxSq/4 + opt.L2)
	theta := make([]float64, nf+1) // theta[0] is the bias
	prev := make([]float64, nf+1)
	yk := make([]float64, nf+1)
	grad := make([]float64, nf+1)
	t := 1.0
	for it := 0; it < opt.Iterations; it++ {
		gradient(rows, yk, grad, opt)
		copy(prev, theta)
		theta[0] = yk[0] - step*grad[0]
		for j := 1; j <= nf; j++ {
			theta[j] = math.Max(0, yk[j]-step*grad[j])
		}
		tn := (1 + math.Sqrt(1+4*t*t)) / 2
		mom := (t - 1) / tn
		for j := range yk {
			yk[j] = theta[j] + mom*(theta[j]-prev[j])
		}
		t = tn
	}
	for _, r := range rows {
		z := theta[0]
		for _, j := range r.x {
			z += theta[j+1]
		}
		loss += r.w * (log1pexp(z) - r.y*z)
	}
	for _, b := range theta[1:] {
		loss += opt.L2/2*b*b + opt.L1*b
	}
	return theta[1:], theta[0], loss
}

func gradient(rows []fitRow, theta, grad []float64, opt FitOptions) {
	for j := range grad {
		grad[j] = 0
	}
	for _, r := range rows {
		z := theta[0]
		for _, j := range r.x {
			z += theta[j+1]
		}
		g := r.w * (sigmoid(z) - r.y)
		grad[0] += g
		for _, j := range r.x {
			grad[j+1] += g
		}
	}
	for j := 1; j < len(grad); j++ {
		grad[j] += opt.L2*theta[j] + opt.L1
	}
}

// helps is the smallest weight (in logit units) that counts as helping.
const helps = 1e-3

// scoresAt turns the weights into bounded points at scale k.
func (fr *FitResult) scoresAt(k float64) map[string]float64 {
	out := make(map[string]float64, len(fr.Rules))
	for i, n := range fr.Rules {
		b := fr.Weights[i]
		if b < helps {
			out[n] = 0
			continue
		}
		s := math.Round(k*b*10) / 10
		out[n] = math.Max(fr.Opt.Min, math.Min(fr.Opt.Max, s))
	}
	return out
}

// meets says whether scores keep every ham source at or under MaxHamRate
// at the tag threshold and all ham under the reject threshold.
func (fr *FitResult) meets(scores map[string]float64) bool {
	r := fr.res.Rescore(scores)
	for _, s := range r.Sources() {
		if s.Ham == 0 {
			continue
		}
		if c := r.Confusion(r.Tag, s.Name); c.HamRate > fr.Opt.MaxHamRate {
			return false
		}
	}
	return r.Reject <= 0 || r.Confusion(r.Reject, "").HamFlagged == 0
}

// chooseScale picks the largest scale at or under ScaleP at which the ham
// limits hold, also with every score times Margin.
func (fr *FitResult) chooseScale() error {
	tag := fr.res.Tag
	logit := math.Log(fr.Opt.TargetP / (1 - fr.Opt.TargetP))
	if logit-fr.Bias <= 0 {
		return fmt.Errorf("fit: the bias %.2f is above logit(%g): no check is needed to call a message spam", fr.Bias, fr.Opt.TargetP)
	}
	fr.ScaleP = tag / (logit - fr.Bias)
	// Walk down in 1% steps to a third of ScaleP.
	for k := fr.ScaleP; k >= fr.ScaleP/3; k *= 0.99 {
		fr.Scale = k
		fr.Scores = fr.scoresAt(k)
		if fr.meets(fr.Scores) && fr.meets(fr.scoresAt(k*fr.Opt.Margin)) {
			fr.Met = true
			return nil
		}
	}
	return nil
}

func (fr *FitResult) hitRates() {
	fr.spamPct, fr.hamPct = map[string]float64{}, map[string]float64{}
	for _, s := range fr.res.RuleStats() {
		fr.spamPct[s.Name], fr.hamPct[s.Name] = s.SpamPct, s.HamPct
	}
}

// WriteSummary prints the fit: method figures and per check the weight,
// hit rates and score.
func (fr *FitResult) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "fit on %d messages, %d checks: bias %.3f (logit), loss %.5f\n", fr.Messages, len(fr.Rules), fr.Bias, fr.Loss)
	fmt.Fprintf(w, "scale %.3f points per logit unit (at most %.3f: tag threshold at p(spam) >= %g)\n", fr.Scale, fr.ScaleP, fr.Opt.TargetP)
	if !fr.Met {
		fmt.Fprintf(w, "WARNING: no scale met the ham limits (%.2f%% per ham source at the tag threshold, none at reject)\n", 100*fr.Opt.MaxHamRate)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "check\tweight\tspam%\tham%\tscore\t")
	for i, n := range fr.Rules {
		fmt.Fprintf(tw, "%s\t%.3f\t%.2f\t%.2f\t%s\t\n", n, fr.Weights[i], fr.spamPct[n], fr.hamPct[n], rules.FormatScore(fr.Scores[n]))
	}
	tw.Flush()
}

// GoSource returns rules/scores_fitted.go: the fitted scores as a sorted
// Go map, gofmt-formatted, with the method in its comment.
func (fr *FitResult) GoSource() ([]byte, error) {
	var b bytes.Buffer
	o := fr.Opt
	fmt.Fprintf(&b, "// Code generated by levee eval --fit; DO NOT EDIT.\n\npackage rules\n\n")
	fmt.Fprintf(&b, "// fittedScores are the default scores of the built-in checks, fitted by\n")
	fmt.Fprintf(&b, "// `levee eval --fit` on %d messages of the development corpus: logistic\n", fr.Messages)
	fmt.Fprintf(&b, "// regression on the 0/1 hit vectors (non-negative weights, L2 %g, L1 %g,\n", o.L2, o.L1)
	fmt.Fprintf(&b, "// %d FISTA steps, each source weighted equally within its class, ham\n", o.Iterations)
	fmt.Fprintf(&b, "// weighing %g times the spam), bias\n", o.HamWeight)
	fmt.Fprintf(&b, "// %.3f; scaled by %.3f points per logit unit (the largest scale at or under\n", fr.Bias, fr.Scale)
	fmt.Fprintf(&b, "// %.3f, where the tag threshold sits at p(spam) %g, that flags at most %g%%\n", fr.ScaleP, o.TargetP, 100*o.MaxHamRate)
	fmt.Fprintf(&b, "// of each ham source and rejects none, also with scores x%g); bounded to\n", o.Margin)
	fmt.Fprintf(&b, "// [%g, %g] (%g for a check with a non-zero weight) and rounded to 0.1.\n", 0.0, o.Max, o.Min)
	fmt.Fprintf(&b, "// A check at 0 is not run. A score in the config overrides these.\n")
	fmt.Fprintf(&b, "var fittedScores = map[string]float64{\n")
	for _, n := range fr.Rules {
		fmt.Fprintf(&b, "\t%q: %s,\n", n, strconv.FormatFloat(fr.Scores[n], 'f', -1, 64))
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
