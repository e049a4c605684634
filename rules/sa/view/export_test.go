package view

// SetRelaysDFA turns the DFA test of the Received patterns on or off
// (tests that hold it exact).
func SetRelaysDFA(on bool) { noDFA = !on }
