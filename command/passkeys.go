package command

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"happychat/schemas"
)

// WebAuthnConfig is the relying party of the passkeys
// (docs/adr/0008-passkeys.md): RPID (CHAT_WEBAUTHN_RP_ID) is the domain
// the passkeys are bound to, Origins (CHAT_WEBAUTHN_ORIGINS) the exact
// origins of the web client that may use them. Without origins the passkey
// routes answer 503: a passkey bound to a wrong origin could never be used.
type WebAuthnConfig struct {
	RPID    string
	Origins []string
	// ChallengeTTL bounds a ceremony from begin to finish (default 5 min).
	ChallengeTTL time.Duration
}

// PasskeyChallenge is the answer of a ceremony's begin: the options to
// hand to navigator.credentials (create or get) and the id to send back
// with the authenticator's answer.
type PasskeyChallenge struct {
	ChallengeID string `json:"challenge_id"`
	// Options is the library's CredentialCreation or CredentialAssertion
	// ({"publicKey": {...}}), in WebAuthn's JSON form (base64url bytes).
	Options any `json:"options"`
}

// PasskeyRegistered answers a registration: the recovery codes, shown once
// (empty when the user still has unused ones from an earlier passkey).
type PasskeyRegistered struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// newWebAuthn builds the relying party, nil when passkeys are not
// configured.
func newWebAuthn(c WebAuthnConfig) (*webauthn.WebAuthn, error) {
	if len(c.Origins) == 0 {
		return nil, nil
	}
	ttl := c.ChallengeTTL
	return webauthn.New(&webauthn.Config{
		RPID:          c.RPID,
		RPDisplayName: "Happy Chat",
		RPOrigins:     c.Origins,
		// A passkey: a discoverable credential, so that signing in needs no
		// name (nicknames are not unique), verified by the device's lock.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ttl, TimeoutUVD: ttl},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ttl, TimeoutUVD: ttl},
		},
	})
}

func (s *Service) passkeysEnabled() error {
	if s.webauthn == nil {
		return unavailable("passkeys are not configured on this server (CHAT_WEBAUTHN_ORIGINS)")
	}
	return nil
}

// passkeyAnswer is the body of a ceremony's finish.
type passkeyAnswer struct {
	ChallengeID string         `json:"challenge_id"`
	Credential  jsontext.Value `json:"credential"`
}

// maxChallengeID bounds what is looked up: ours are 22 characters.
const maxChallengeID = 64

func (a passkeyAnswer) check() error {
	switch {
	case a.ChallengeID == "":
		return badRequest("challenge_id is required: the id the begin call answered")
	case len(a.ChallengeID) > maxChallengeID || !utf8.ValidString(a.ChallengeID):
		return badRequest(fmt.Sprintf("challenge_id is longer than %d characters", maxChallengeID))
	case len(a.Credential) == 0:
		return badRequest("credential is required: the authenticator's answer (PublicKeyCredential.toJSON())")
	}
	return nil
}

// challengeGone is the refusal of a finish whose challenge is unknown,
// used (a replay) or expired.
func challengeGone() error {
	return badRequest("challenge_id is unknown, already used or expired: begin the ceremony again")
}

// maxRefusalDetail bounds how much of the library's explanation a refusal
// repeats.
const maxRefusalDetail = 160

// ceremonyRefusal turns the library's refusal of an answer into the error
// envelope: what could not be parsed or verified, never more.
func ceremonyRefusal(code schemas.Code, what string, err error) error {
	detail := "it could not be verified"
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		detail = pe.Details
	}
	if !utf8.ValidString(detail) || len(detail) > maxRefusalDetail {
		detail = "it could not be verified"
	}
	return schemas.Errorf(code, fmt.Sprintf("%s: %s", what, detail))
}
