package eval

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/levee-mail/levee/rules"
)

// MaxHamRate is the share of ham the report's "safe threshold" may flag (0.1%).
const MaxHamRate = 0.001

// Row is one line of the confusion table: a class of one source (or all).
type Row struct {
	Label    string
	Class    Class
	N        int
	Tag, Rej int // flagged at the tag / reject threshold
	TagPct   float64
	RejPct   float64
}

// Table returns the confusion rows: all ham, all spam, then each source.
func (r *Result) Table() []Row {
	row := func(label, source string, c Class) Row {
		t, j := r.Confusion(r.Tag, source), Counts{}
		if r.Reject > 0 {
			j = r.Confusion(r.Reject, source)
		}
		if c == Ham {
			return Row{label, Ham, t.Ham, t.HamFlagged, j.HamFlagged, 100 * t.HamRate, 100 * j.HamRate}
		}
		return Row{label, Spam, t.Spam, t.SpamFlagged, j.SpamFlagged, 100 * t.SpamHit, 100 * j.SpamHit}
	}
	rows := []Row{row("all", "", Ham), row("all", "", Spam)}
	for _, s := range r.Sources() {
		if s.Ham > 0 {
			rows = append(rows, row(s.Name, s.Name, Ham))
		}
		if s.Spam > 0 {
			rows = append(rows, row(s.Name, s.Name, Spam))
		}
	}
	return rows
}

func (r *Result) counts() (ham, spam, errs int) {
	for _, m := range r.Messages {
		switch {
		case m.Err != "":
			errs++
		case m.Class == Spam:
			spam++
		default:
			ham++
		}
	}
	return
}

func thr(t float64) string {
	if t <= 0 {
		return "off"
	}
	return strconv.FormatFloat(t, 'f', -1, 64)
}

// WriteText prints the terminal summary: sizes, the confusion table, the
// 0.1%-ham threshold, the hit frequencies and the worst misses (up to
// worst of each).
func (r *Result) WriteText(w io.Writer, worst int) {
	ham, spam, errs := r.counts()
	fmt.Fprintf(w, "levee eval %s: %d messages (%d ham, %d spam, %d unreadable) in %s on %d workers\n",
		r.Corpus, ham+spam+errs, ham, spam, errs, r.Elapsed.Round(1e7), r.Workers)
	r.writeConfusion(w)
	t, sr := r.ThresholdFor(MaxHamRate)
	fmt.Fprintf(w, "\nthreshold for ham flagged <= %.1f%% (overall and per ham source): %s, spam caught there %.1f%%\n",
		100*MaxHamRate, rules.FormatScore(t), 100*sr)
	fmt.Fprintln(w, "\nchecks (hit-frequencies)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "check\tscore\tspam%\tham%\tS/O\t")
	for _, s := range r.RuleStats() {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%s\t\n", s.Name, rules.FormatScore(s.Score), s.SpamPct, s.HamPct, soString(s.SO))
	}
	tw.Flush()
	fp, fn := r.Worst(worst)
	fmt.Fprintf(w, "\nworst false positives (ham at or over %s): %d shown\n", thr(r.Tag), len(fp))
	for _, m := range fp {
		fmt.Fprintf(w, "  %6s  %s  %s\n", rules.FormatScore(m.Score), m.Name, hitList(m.Hits))
	}
	fmt.Fprintf(w, "worst false negatives (spam under %s): %d shown\n", thr(r.Tag), len(fn))
	for _, m := range fn {
		fmt.Fprintf(w, "  %6s  %s  %s\n", rules.FormatScore(m.Score), m.Name, hitList(m.Hits))
	}
}

// writeConfusion prints the confusion table alone.
func (r *Result) writeConfusion(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "source\tclass\tmessages\tflagged at %s\t\trejected at %s\t\t\n", thr(r.Tag), thr(r.Reject))
	for _, row := range r.Table() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f%%\t%d\t%.2f%%\t\n", row.Label, row.Class, row.N, row.Tag, row.TagPct, row.Rej, row.RejPct)
	}
	tw.Flush()
}

// WriteConfusion prints the confusion table (overall and per source).
func (r *Result) WriteConfusion(w io.Writer) { r.writeConfusion(w) }

func soString(so float64) string {
	if math.IsNaN(so) {
		return "-"
	}
	return strconv.FormatFloat(so, 'f', 3, 64)
}

func hitList(h []rules.Hit) string {
	if len(h) == 0 {
		return "(no hits)"
	}
	parts := make([]string, len(h))
	for i, x := range h {
		parts[i] = x.Name + "=" + rules.FormatScore(x.Score)
	}
	return strings.Join(parts, " ")
}

// WriteHTML writes the report as one self-contained HTML page (inline CSS
// and SVG, nothing fetched).
func (r *Result) WriteHTML(w io.Writer) error {
	ham, spam, errs := r.counts()
	t, sr := r.ThresholdFor(MaxHamRate)
	fp, fn := r.Worst(20)
	data := map[string]any{
		"Corpus": r.Corpus, "Ham": ham, "Spam": spam, "Errors": errs,
		"Elapsed": r.Elapsed.Round(1e7).String(), "Workers": r.Workers,
		"Tag": thr(r.Tag), "Reject": thr(r.Reject),
		"Rows": r.Table(), "Stats": r.RuleStats(),
		"SafeT": rules.FormatScore(t), "SafeSpam": fmt.Sprintf("%.1f", 100*sr),
		"MaxHam": fmt.Sprintf("%.1f", 100*MaxHamRate),
		"FP":     fp, "FN": fn,
		"Plot": template.HTML(r.histogramSVG(t)),
	}
	return reportTmpl.Execute(w, data)
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"score": rules.FormatScore,
	"so":    soString,
	"hits":  hitList,
	"bar": func(pct float64) string { // width of a hit-rate bar, 0..100
		return fmt.Sprintf("%.1f", math.Max(0, math.Min(100, pct)))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>levee eval: {{.Corpus}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}
th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.ham td.c{color:#1f5fa8}tr.spam td.c{color:#b3261e}
.bad{color:#b3261e;font-weight:bold}.mono{font-family:ui-monospace,monospace;font-size:12px}
.bars{position:relative;width:120px;height:14px;background:#f4f4f4}
.bars span{position:absolute;left:0;height:7px}
.bs{top:0;background:#d9534f}.bh{top:7px;background:#3b7dd8}
.note{color:#555}
</style></head><body>
<h1>levee eval</h1>
<p>Corpus <b>{{.Corpus}}</b>: {{.Ham}} ham, {{.Spam}} spam{{if .Errors}}, <span class="bad">{{.Errors}} unreadable</span>{{end}};
judged in {{.Elapsed}} on {{.Workers}} workers. Tag threshold (add_header) {{.Tag}}, reject threshold {{.Reject}}.</p>

<h2>Confusion matrix</h2>
<table><tr><th class="l">source</th><th class="l">class</th><th>messages</th><th>flagged at {{.Tag}}</th><th>%</th><th>rejected at {{.Reject}}</th><th>%</th></tr>
{{range .Rows}}<tr class="{{.Class}}"><td class="l">{{.Label}}</td><td class="l c">{{.Class}}</td><td>{{.N}}</td><td>{{.Tag}}</td><td>{{pct .TagPct}}</td><td>{{.Rej}}</td><td>{{pct .RejPct}}</td></tr>
{{end}}</table>
<p class="note">For ham the flagged share is the false-positive rate; for spam it is the share caught.</p>

<h2>Score distributions</h2>
{{.Plot}}
<p>The lowest threshold that flags at most {{.MaxHam}}% of the ham (overall and in each ham source) is <b>{{.SafeT}}</b>; it catches <b>{{.SafeSpam}}%</b> of the spam.</p>

<h2>Checks (hit frequencies)</h2>
<p class="note">S/O = spam% / (spam% + ham%): 1.0 fires on spam only, 0.5 does not separate.</p>
<table><tr><th class="l">check</th><th>score</th><th>spam %</th><th>ham %</th><th>S/O</th><th class="l">hit rate</th><th class="l">description</th></tr>
{{range .Stats}}<tr><td class="l mono">{{.Name}}</td><td>{{score .Score}}</td><td>{{pct .SpamPct}}</td><td>{{pct .HamPct}}</td><td>{{so .SO}}</td>
<td class="l"><div class="bars"><span class="bs" style="width:{{bar .SpamPct}}%"></span><span class="bh" style="width:{{bar .HamPct}}%"></span></div></td><td class="l">{{.Desc}}</td></tr>
{{end}}</table>

<h2>Worst false positives (ham at or over {{.Tag}})</h2>
{{if .FP}}<table><tr><th>score</th><th class="l">message</th><th class="l">source</th><th class="l">hits</th></tr>
{{range .FP}}<tr><td>{{score .Score}}</td><td class="l mono">{{.Name}}</td><td class="l">{{.Source}}</td><td class="l mono">{{hits .Hits}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}

<h2>Worst false negatives (spam under {{.Tag}})</h2>
{{if .FN}}<table><tr><th>score</th><th class="l">message</th><th class="l">source</th><th class="l">hits</th></tr>
{{range .FN}}<tr><td>{{score .Score}}</td><td class="l mono">{{.Name}}</td><td class="l">{{.Source}}</td><td class="l mono">{{hits .Hits}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
</body></html>
`))

// histogramSVG draws the ham and spam score histograms (share of each
// class per one-point bin, square-root scale so the thin tails show) with
// the tag, reject and safe thresholds.
func (r *Result) histogramSVG(safe float64) string {
	lo, hi := 0.0, r.Tag+1
	if r.Reject > 0 {
		hi = r.Reject + 1
	}
	var ham, spam int
	for _, m := range r.Messages {
		if m.Err != "" {
			continue
		}
		lo, hi = math.Min(lo, math.Floor(m.Score)), math.Max(hi, math.Floor(m.Score)+1)
		if m.Class == Spam {
			spam++
		} else {
			ham++
		}
	}
	lo, hi = math.Max(lo, -10), math.Min(hi, 40) // outside: clamped into the end bins
	nb := int(hi - lo)
	hb, sb := make([]int, nb), make([]int, nb)
	for _, m := range r.Messages {
		if m.Err != "" {
			continue
		}
		i := min(max(int(math.Floor(m.Score)-lo), 0), nb-1)
		if m.Class == Spam {
			sb[i]++
		} else {
			hb[i]++
		}
	}
	const W, H, L, R, T, B = 1000.0, 380.0, 60.0, 20.0, 30.0, 50.0
	pw, ph := W-L-R, H-T-B
	bw := pw / float64(nb)
	x := func(s float64) float64 { return L + (s-lo)*bw }
	y := func(share float64) float64 { return T + ph*(1-math.Sqrt(share)) } // share 0..1
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="100%%" style="max-width:%gpx;font:12px sans-serif" role="img" aria-label="score histograms">`, W, H, W)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fafafa" stroke="#ccc"/>`, L, T, pw, ph)
	for _, g := range []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1} {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e2e2e2"/><text x="%g" y="%.1f" text-anchor="end" fill="#555">%s%%</text>`,
			L, L+pw, y(g), y(g), L-6, y(g)+4, strconv.FormatFloat(100*g, 'f', -1, 64))
	}
	for i := 0; i < nb; i++ {
		x0 := x(lo + float64(i))
		if ham > 0 && hb[i] > 0 {
			yy := y(float64(hb[i]) / float64(ham))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3b7dd8"><title>ham, score %g to %g: %d (%.2f%%)</title></rect>`,
				x0+1, yy, bw/2-1, T+ph-yy, lo+float64(i), lo+float64(i+1), hb[i], 100*float64(hb[i])/float64(ham))
		}
		if spam > 0 && sb[i] > 0 {
			yy := y(float64(sb[i]) / float64(spam))
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d9534f"><title>spam, score %g to %g: %d (%.2f%%)</title></rect>`,
				x0+bw/2, yy, bw/2-1, T+ph-yy, lo+float64(i), lo+float64(i+1), sb[i], 100*float64(sb[i])/float64(spam))
		}
	}
	step := 1.0
	if nb > 25 {
		step = 5
	}
	for s := math.Ceil(lo/step) * step; s <= hi; s += step {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#555"/><text x="%.1f" y="%g" text-anchor="middle">%g</text>`,
			x(s), x(s), T+ph, T+ph+5, x(s), T+ph+18, s)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">score (one-point bins%s)</text>`, L+pw/2, H-8,
		html.EscapeString(map[bool]string{true: "; the end bins hold everything beyond", false: ""}[lo == -10 || hi == 40]))
	line := func(t float64, color, dash, label string, row int) {
		if t < lo || t > hi {
			return
		}
		tx, anchor := x(t)+4, "start"
		if t < r.Tag { // left of the tag line: label on the left, clear of it
			tx, anchor = x(t)-4, "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%.1f" y="%g" fill="%s" text-anchor="%s">%s</text>`,
			x(t), x(t), T, T+ph, color, dash, tx, T+14+14*float64(row), color, anchor, html.EscapeString(label))
	}
	line(r.Tag, "#e08a00", "6 3", "tag "+thr(r.Tag), 0)
	if r.Reject > 0 {
		line(r.Reject, "#7b1fa2", "6 3", "reject "+thr(r.Reject), 0)
	}
	if !math.IsInf(safe, 0) {
		line(safe, "#2e7d32", "2 3", fmt.Sprintf("ham ≤ %.1f%%: %s", 100*MaxHamRate, rules.FormatScore(safe)), 1)
	}
	lx := L + pw - 150
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="12" fill="#3b7dd8"/><text x="%g" y="%g">ham (%d)</text>`, lx, T+8, lx+18, T+18, ham)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="12" height="12" fill="#d9534f"/><text x="%g" y="%g">spam (%d)</text>`, lx, T+26, lx+18, T+36, spam)
	fmt.Fprintf(&b, `<text x="14" y="%g" transform="rotate(-90 14 %g)" text-anchor="middle">share of class (square-root scale)</text>`, T+ph/2, T+ph/2)
	b.WriteString(`</svg>`)
	return b.String()
}
