package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The offline commands never open the state store, not even the default one.
func TestOfflineCommandsDoNotOpenTheStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", dir)
	for _, args := range [][]string{
		{"check", "testdata/check/ham.eml"},
		{"config", "check"},
		{"rules", "list"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errb); code > 1 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("an offline command made %v in the state directory", ents)
	}
}

func TestGreylistUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"greylist", "allow", "not-an-ip"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "not an IP address") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := run([]string{"greylist", "frobnicate"}, nil, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
