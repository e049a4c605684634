package filter

import (
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/auth"
)

// The sender-authentication side of a message (rules/auth): SPF starts at
// MAIL FROM, the DMARC record and the DKIM keys are fetched at end of
// header, every body chunk feeds the DKIM verifier and signer (the whole
// body, past the scan limit, never kept), and the verdict is collected at
// end of message under the same DNS deadline as the blocklists. Nothing
// here costs a round trip to the MTA: the header changes go out with the
// end-of-message reply.
type authState struct {
	sess *auth.Session // verification; nil when off or the message is skipped
	sign *auth.Signing // DKIM signing of outgoing mail; nil when not signed
}

// authMail runs at MAIL FROM for a message that is judged.
func (st *connState) authMail(env *rules.Envelope) {
	st.auth.sess = st.engine.StartAuth(env)
}

// authHeader runs at end of header, once st.msg is built. A header that
// came without a MAIL FROM (a broken or hostile MTA) has no engine: there
// is nothing to verify or sign, and end of message accepts it unjudged.
func (st *connState) authHeader() {
	if st.engine == nil {
		return
	}
	if st.auth.sess != nil {
		st.engine.AuthHeader(st.msg, st.auth.sess)
		st.msg.Auth = st.auth.sess
	}
	if st.engine.ShouldSign(st.msg) {
		st.auth.sign = st.engine.StartSigning(st.msg)
	}
}

// authBody gets every body chunk as the MTA sent it (go-milter allocates
// each chunk afresh: it is kept by reference until hashed).
func (st *connState) authBody(chunk []byte) {
	st.auth.sess.Body(chunk)
	st.auth.sign.Body(chunk)
}

// authFinish adds the DKIM signatures to the verdict at end of message.
// A message that is rejected, tempfailed or discarded is not signed; nor
// is its Subject rewritten once signed (the signature covers it).
func (st *connState) authFinish(v *rules.Verdict) {
	s := st.auth.sign
	st.auth.sign = nil
	if s == nil {
		return
	}
	switch v.Action {
	case rules.Reject, rules.Tempfail, rules.Discard:
		s.Abort()
		return
	}
	sigs, err := s.Finish()
	if err != nil {
		st.log.Error("dkim signing failed; message passed unsigned", "queue_id", st.macro("i"), "domain", s.Domain, "err", err)
		return
	}
	if v.Action == rules.RewriteSubject {
		v.Action = rules.AddHeader
	}
	ins := make([]rules.Field, 0, len(sigs)+len(v.Insert))
	for _, f := range sigs {
		ins = append(ins, rules.Field{Name: f.Name, Value: f.Value})
	}
	v.Insert = append(ins, v.Insert...)
	st.log.Debug("dkim signed", "queue_id", st.macro("i"), "domain", s.Domain, "signatures", len(sigs))
}

// authReset lets go of a message's auth work (ABORT, next MAIL FROM).
func (st *connState) authReset() {
	st.auth.sess.Abort()
	st.auth.sign.Abort()
	st.auth = authState{}
}

// applyAuthFields removes the incoming fields the verdict names (highest
// index first, so positions stay valid) and inserts its fields at the top
// of the header, at end of message.
func applyAuthFields(m milterModifier, v *rules.Verdict) error {
	for i := len(v.Remove) - 1; i >= 0; i-- {
		r := v.Remove[i]
		if err := m.ChangeHeader(r.Index, r.Name, ""); err != nil {
			return err
		}
	}
	for i := len(v.Insert) - 1; i >= 0; i-- {
		f := v.Insert[i]
		if err := m.InsertHeader(0, f.Name, f.Value); err != nil {
			return err
		}
	}
	return nil
}

// milterModifier is what applyAuthFields needs of *milter.Modifier.
type milterModifier interface {
	ChangeHeader(index int, name, value string) error
	InsertHeader(index int, name, value string) error
}
