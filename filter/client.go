package filter

import (
	"time"

	"github.com/emersion/go-milter"
)

// ClientActions and ClientProtocol are the masks levee's own milter clients
// (tests, `levee bench`) offer. go-milter's NewDefaultClient asks for v6
// actions (ChangeFrom) and then fails against a v2 server, its own included,
// so clients always state their masks explicitly.
const (
	ClientActions  = milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine | milter.OptAddRcpt | milter.OptRemoveRcpt | milter.OptChangeBody
	ClientProtocol = milter.OptProtocol(0)
)

// NewClient returns a go-milter client for a Postfix-notation address,
// playing the MTA's side with explicit masks.
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
