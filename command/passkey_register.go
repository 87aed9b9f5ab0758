package command

import (
	"context"
	"errors"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"happychat/schemas"
	"happychat/schemas/token"
)

// BeginPasskeyRegistration starts adding a passkey to the caller's user:
// the options for navigator.credentials.create, excluding the passkeys it
// has already, and a challenge id valid for the challenge TTL.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, c Caller) (PasskeyChallenge, error) {
	if err := s.passkeysEnabled(); err != nil {
		return PasskeyChallenge{}, err
	}
	if err := c.needUser(); err != nil {
		return PasskeyChallenge{}, forbidden("the admin token cannot hold a passkey")
	}
	u, _, err := s.passkeys.loadUser(ctx, c.UserID)
	if err != nil {
		return PasskeyChallenge{}, s.storeDown("load the passkeys", err)
	}
	u.nickname = c.Nickname
	creation, sess, err := s.webauthn.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return PasskeyChallenge{}, err
	}
	id, err := newChallengeID()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if err := s.passkeys.saveChallenge(ctx, id, ceremonyRegister, c.UserID, sess, sess.Expires); err != nil {
		return PasskeyChallenge{}, s.storeDown("save the challenge", err)
	}
	return PasskeyChallenge{ChallengeID: id, Options: creation}, nil
}

// FinishPasskeyRegistration verifies the authenticator's answer to the
// caller's challenge (origin, RP ID, challenge, signature) and stores the
// passkey. The first passkey of a user also gets recovery codes, returned
// once. The challenge is spent whatever the outcome.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, c Caller, in passkeyAnswer) (PasskeyRegistered, error) {
	if err := s.passkeysEnabled(); err != nil {
		return PasskeyRegistered{}, err
	}
	if err := c.needUser(); err != nil {
		return PasskeyRegistered{}, forbidden("the admin token cannot hold a passkey")
	}
	if err := in.check(); err != nil {
		return PasskeyRegistered{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		return PasskeyRegistered{}, ceremonyRefusal(schemas.CodeBadRequest, "credential is not a passkey registration", err)
	}
	sess, err := s.passkeys.takeChallenge(ctx, in.ChallengeID, ceremonyRegister, c.UserID)
	if errors.Is(err, errNoChallenge) {
		return PasskeyRegistered{}, challengeGone()
	} else if err != nil {
		return PasskeyRegistered{}, s.storeDown("take the challenge", err)
	}
	u, _, err := s.passkeys.loadUser(ctx, c.UserID)
	if err != nil {
		return PasskeyRegistered{}, s.storeDown("load the passkeys", err)
	}
	// Signed in under the name the caller has now (its token's).
	claims, err := s.cfg.Keys.Verify(c.Token)
	if err != nil {
		return PasskeyRegistered{}, token.Refusal(err)
	}
	u.nickname = claims.Nickname
	cred, err := s.webauthn.CreateCredential(u, sess, parsed)
	if err != nil {
		return PasskeyRegistered{}, ceremonyRefusal(schemas.CodeBadRequest, "credential was refused", err)
	}
	codes, err := s.passkeys.addCredential(ctx, u, cred)
	if errors.Is(err, errCredentialTaken) {
		return PasskeyRegistered{}, schemas.Errorf(schemas.CodeConflict, "this passkey is registered already")
	} else if err != nil {
		return PasskeyRegistered{}, s.storeDown("store the passkey", err)
	}
	if codes == nil {
		codes = []string{}
	}
	return PasskeyRegistered{RecoveryCodes: codes}, nil
}

// storeDown logs a PostgreSQL failure and answers 503: the client retries.
func (s *Service) storeDown(what string, err error) error {
	s.log.Warn("passkeys: "+what, "err", err)
	return unavailable("cannot reach the passkey store now, retry")
}
