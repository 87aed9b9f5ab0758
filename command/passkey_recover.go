package command

import (
	"context"
	"unicode/utf8"

	"happychat/schemas"
)

// maxRecoveryCode bounds a code as typed (10 characters, a dash, spaces).
const maxRecoveryCode = 32

// Recover opens a new session of the user a one-time recovery code belongs
// to (shown when its first passkey was registered): the way back for
// someone whose devices with the passkey are gone. The code is spent.
func (s *Service) Recover(ctx context.Context, code string) (schemas.Session, error) {
	if err := s.passkeysEnabled(); err != nil {
		return schemas.Session{}, err
	}
	switch {
	case code == "":
		return schemas.Session{}, badRequest("code is required: one of the recovery codes shown when the passkey was made")
	case !utf8.ValidString(code) || utf8.RuneCountInString(code) > maxRecoveryCode:
		return schemas.Session{}, badRequest("code is longer than 32 characters: a recovery code is 10 letters and digits")
	}
	user, nick, found, err := s.passkeys.useRecoveryCode(ctx, code)
	if err != nil {
		return schemas.Session{}, s.storeDown("use the recovery code", err)
	}
	if !found {
		return schemas.Session{}, schemas.Errorf(schemas.CodeUnauthorized, "this recovery code is unknown or was used already")
	}
	sess, err := s.issueSession(user, nick)
	return sess, err
}
