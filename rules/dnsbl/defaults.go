package dnsbl

import (
	"bytes"
	_ "embed"

	"go.yaml.in/yaml/v3"
)

// DefaultYAML is default.yaml: the documented `dnsbl:` section with
// Spamhaus ZEN and DBL, DNSWL and commented DQS/SURBL examples.
//
//go:embed default.yaml
var DefaultYAML []byte

// DefaultLists returns the lists of default.yaml (validated).
func DefaultLists() []List { return DefaultConfig().Lists }

// DefaultConfig returns the `dnsbl:` section of default.yaml (validated).
func DefaultConfig() Config {
	var doc struct {
		DNSBL Config `yaml:"dnsbl"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(DefaultYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		panic("dnsbl: default.yaml: " + err.Error())
	}
	if err := doc.DNSBL.Validate(); err != nil {
		panic("dnsbl: default.yaml: " + err.Error())
	}
	return doc.DNSBL
}
