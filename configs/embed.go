// Package configs holds levee's annotated sample configuration, which is
// also the embedded default, and the MTA and systemd snippets.
package configs

import _ "embed"

// Default is levee.yaml: the configuration levee runs with when given no file.
//
//go:embed levee.yaml
var Default []byte

// PostfixMain is postfix/main.cf: the lines an operator adds to Postfix's
// main.cf (`levee soak` runs its private Postfix with them).
//
//go:embed postfix/main.cf
var PostfixMain []byte
