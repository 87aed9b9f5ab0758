package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"happychat/schemas"
)

// BeginPasskeyLogin starts a sign-in with a passkey. It names no user: the
// passkey the person picks on its device names it (a discoverable
// credential), as nicknames are not unique.
func (s *Service) BeginPasskeyLogin(ctx context.Context) (PasskeyChallenge, error) {
	if err := s.passkeysEnabled(); err != nil {
		return PasskeyChallenge{}, err
	}
	assertion, sess, err := s.webauthn.BeginDiscoverableLogin()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	id, err := newChallengeID()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if err := s.passkeys.saveChallenge(ctx, id, ceremonyLogin, 0, sess, sess.Expires); err != nil {
		return PasskeyChallenge{}, s.storeDown("save the challenge", err)
	}
	return PasskeyChallenge{ChallengeID: id, Options: assertion}, nil
}

// FinishPasskeyLogin verifies the passkey's answer and opens a new session
// of its user, under the user's current nickname: the same user as on the
// device that registered it. The challenge is spent whatever the outcome.
func (s *Service) FinishPasskeyLogin(ctx context.Context, in passkeyAnswer) (schemas.Session, error) {
	if err := s.passkeysEnabled(); err != nil {
		return schemas.Session{}, err
	}
	if err := in.check(); err != nil {
		return schemas.Session{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return schemas.Session{}, ceremonyRefusal(schemas.CodeBadRequest, "credential is not a passkey sign-in", err)
	}
	sess, err := s.passkeys.takeChallenge(ctx, in.ChallengeID, ceremonyLogin, 0)
	if errors.Is(err, errNoChallenge) {
		return schemas.Session{}, challengeGone()
	} else if err != nil {
		return schemas.Session{}, s.storeDown("take the challenge", err)
	}
	var (
		user    *passkeyUser
		lookErr error
	)
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		id, err := schemas.ParseID(string(userHandle))
		if err != nil {
			return nil, fmt.Errorf("user handle: %w", err)
		}
		u, found, err := s.passkeys.loadUser(ctx, id)
		if err != nil {
			lookErr = err
			return nil, err
		}
		if !found {
			return nil, errors.New("no such user")
		}
		user = u
		return u, nil
	}
	_, cred, err := s.webauthn.ValidatePasskeyLogin(handler, sess, parsed)
	if lookErr != nil {
		return schemas.Session{}, s.storeDown("load the passkeys", lookErr)
	}
	if err != nil {
		return schemas.Session{}, ceremonyRefusal(schemas.CodeUnauthorized, "the passkey was not accepted", err)
	}
	if err := s.passkeys.touchCredential(ctx, user.id, cred); err != nil {
		return schemas.Session{}, s.storeDown("record the sign-in", err)
	}
	return s.issueSession(user.id, user.nickname)
}

// issueSession signs a new token of an existing user (a passkey or a
// recovery code proved who it is).
func (s *Service) issueSession(user schemas.ID, nickname string) (schemas.Session, error) {
	tok, _, err := s.cfg.Keys.Issue(user, nickname)
	if err != nil {
		return schemas.Session{}, err
	}
	return schemas.Session{UserID: user, Nickname: nickname, Token: tok}, nil
}
