// Package evaltest finds the development corpus for tests and benchmarks
// (open it with eval.Walk). It imports nothing of levee, so the tests of
// every package can use it, rules/received's included.
package evaltest

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns the development corpus: $LEVEE_CORPUS, else
// shared/corpus/dev.tar.gz beside the nearest ancestor of the working
// directory (a test runs in its package's directory) that has one: beside
// the repository, or beside the folder of its worktrees. "" when there is
// none.
func Path() string {
	if p := os.Getenv("LEVEE_CORPUS"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "..", "shared", "corpus", "dev.tar.gz")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// InCI reports whether the tests run in CI ($CI set, and not "0" or
// "false"), where what they need must be there.
func InCI() bool { v := os.Getenv("CI"); return v != "" && v != "0" && v != "false" }

// Corpus returns Path. When there is no corpus it skips tb, or in CI fails
// it.
func Corpus(tb testing.TB) string {
	tb.Helper()
	p := Path()
	if _, err := os.Stat(p); p == "" || err != nil {
		const msg = "dev corpus not found: set LEVEE_CORPUS, or put shared/corpus/dev.tar.gz beside the repository"
		if InCI() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return p
}
