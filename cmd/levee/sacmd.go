package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/levee-mail/levee/rules/sa"
)

// cmdSA is `levee sa lint [--all] [--score-set N] FILE|DIR...`: load
// SpamAssassin rule files as levee would and print what loaded, what was
// skipped and why. Exit 0 when they load, 2 when a file does not parse.
func cmdSA(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "lint" {
		fmt.Fprintln(stderr, "usage: levee sa lint [--all] [--json] [--score-set N] FILE|DIR...")
		return 2
	}
	fs := flag.NewFlagSet("sa lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "also list each rule skipped for a plugin or the network")
	set := fs.Int("score-set", 0, "score set (0-3)")
	asJSON := fs.Bool("json", false, "every rule's status, one JSON object a line")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: levee sa lint [--all] [--json] [--score-set N] FILE|DIR...")
		return 2
	}
	cfg := sa.Config{Rules: fs.Args(), ScoreSet: *set}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	rs, err := cfg.Load()
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	if *asJSON {
		if err := rs.WriteJSON(stdout); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		return 0
	}
	rs.Report(stdout, *all)
	return 0
}
