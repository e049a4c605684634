package mta

import (
	"time"

	"github.com/emersion/go-milter"
)

// ClientActions and ClientProtocol are the masks NewClient offers.
// go-milter's NewDefaultClient asks for v6 actions (ChangeFrom) and then
// fails against a v2 server, its own included, so a go-milter client must
// state its masks explicitly.
const (
	ClientActions  = milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine | milter.OptAddRcpt | milter.OptRemoveRcpt | milter.OptChangeBody
	ClientProtocol = milter.OptProtocol(0)
)

// NewClient returns go-milter's own client for a Postfix-notation address,
// with explicit masks, for code that wants go-milter's ClientSession
// rather than Session (levee's tests use it to check that levee serves a
// client that downgrades to protocol version 2).
func NewClient(addr string, timeout time.Duration) (*milter.Client, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	return milter.NewClientWithOptions(network, address, milter.ClientOptions{
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		ActionMask:   ClientActions,
		ProtocolMask: ClientProtocol,
	}), nil
}
