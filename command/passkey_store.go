package command

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/schemas"
)

// Passkeys (docs/adr/0008-passkeys.md): the command service issues
// sessions, so it owns the credentials that open one. They live in its
// PostgreSQL store next to its other tables, scoped by the users topic so
// that deployments sharing a database stay apart:
//
//   - command_passkey_users: a user who registered a passkey, with the
//     nickname a passkey or recovery login signs in under (kept current by
//     Rename);
//   - command_passkeys: the credentials (the library's Credential as JSON,
//     its sign counter updated at every login);
//   - command_passkey_challenges: a ceremony begun and not finished, single
//     use (taken with DELETE … RETURNING) and short-lived;
//   - command_recovery_codes: SHA-256 of each one-time recovery code, and
//     when it was used.
type passkeyStore struct {
	pool  *pgxpool.Pool
	scope string
}

const passkeySchema = `
CREATE TABLE IF NOT EXISTS command_passkey_users (
  scope    text   NOT NULL, -- the users topic
  user_id  bigint NOT NULL,
  nickname text   NOT NULL,
  PRIMARY KEY (scope, user_id)
);
CREATE TABLE IF NOT EXISTS command_passkeys (
  scope         text        NOT NULL,
  credential_id bytea       NOT NULL,
  user_id       bigint      NOT NULL,
  credential    jsonb       NOT NULL, -- webauthn.Credential
  created_at    timestamptz NOT NULL DEFAULT now(),
  used_at       timestamptz,
  PRIMARY KEY (scope, credential_id)
);
CREATE INDEX IF NOT EXISTS command_passkeys_user ON command_passkeys (scope, user_id);
CREATE TABLE IF NOT EXISTS command_passkey_challenges (
  scope      text        NOT NULL,
  id         text        NOT NULL,
  kind       text        NOT NULL, -- register | login
  user_id    bigint      NOT NULL, -- 0 for a login (the passkey names the user)
  session    jsonb       NOT NULL, -- webauthn.SessionData
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (scope, id)
);
CREATE TABLE IF NOT EXISTS command_recovery_codes (
  scope     text        NOT NULL,
  code_hash bytea       NOT NULL, -- SHA-256 of the normalised code
  user_id   bigint      NOT NULL,
  used_at   timestamptz,
  PRIMARY KEY (scope, code_hash)
);
CREATE INDEX IF NOT EXISTS command_recovery_codes_user ON command_recovery_codes (scope, user_id);`

// Challenge kinds: a registration's challenge never finishes a login.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// errNoChallenge: the challenge id is unknown, already used or expired.
var errNoChallenge = errors.New("no such challenge")

// newChallengeID is 128 random bits, base64url: a ceremony's handle, which
// the client sends back with its answer.
func newChallengeID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// saveChallenge stores a ceremony begun, and forgets expired ones of the
// scope (a bounded delete: the begin routes are rate-limited per address).
func (st *passkeyStore) saveChallenge(ctx context.Context, id, kind string, user schemas.ID, sess *webauthn.SessionData, expires time.Time) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	if _, err := st.pool.Exec(ctx, `DELETE FROM command_passkey_challenges WHERE scope = $1 AND ctid = ANY(ARRAY(
		SELECT ctid FROM command_passkey_challenges WHERE scope = $1 AND expires_at < now() LIMIT 100))`, st.scope); err != nil {
		return fmt.Errorf("forget expired challenges: %w", err)
	}
	_, err = st.pool.Exec(ctx, `INSERT INTO command_passkey_challenges (scope, id, kind, user_id, session, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, st.scope, id, kind, int64(user), b, expires)
	return err
}

// takeChallenge removes and returns a ceremony begun: at most one finish
// ever gets it, so a replayed answer finds nothing (errNoChallenge), as
// does an expired one or one of another kind or user.
func (st *passkeyStore) takeChallenge(ctx context.Context, id, kind string, user schemas.ID) (webauthn.SessionData, error) {
	var (
		b    []byte
		sess webauthn.SessionData
	)
	err := st.pool.QueryRow(ctx, `DELETE FROM command_passkey_challenges
		WHERE scope = $1 AND id = $2 AND kind = $3 AND user_id = $4 AND expires_at > $5 RETURNING session`,
		st.scope, id, kind, int64(user), time.Now()).Scan(&b)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return sess, errNoChallenge
	case err != nil:
		return sess, err
	}
	return sess, json.Unmarshal(b, &sess)
}

// passkeyUser is a user as the WebAuthn library sees it. Its handle is the
// decimal user id: an anonymous snowflake, no personal data.
type passkeyUser struct {
	id       schemas.ID
	nickname string
	creds    []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.id.String()) }
func (u *passkeyUser) WebAuthnName() string                       { return u.nickname }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.nickname }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadUser returns the user with its credentials; found is false when it
// never registered a passkey.
func (st *passkeyStore) loadUser(ctx context.Context, id schemas.ID) (*passkeyUser, bool, error) {
	u := &passkeyUser{id: id}
	err := st.pool.QueryRow(ctx, `SELECT nickname FROM command_passkey_users WHERE scope = $1 AND user_id = $2`,
		st.scope, int64(id)).Scan(&u.nickname)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return u, false, nil
	case err != nil:
		return nil, false, err
	}
	rows, err := st.pool.Query(ctx, `SELECT credential FROM command_passkeys WHERE scope = $1 AND user_id = $2 ORDER BY created_at`,
		st.scope, int64(id))
	if err != nil {
		return nil, false, err
	}
	var b []byte
	_, err = pgx.ForEachRow(rows, []any{&b}, func() error {
		var c webauthn.Credential
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		u.creds = append(u.creds, c)
		return nil
	})
	return u, true, err
}

// addCredential stores a new credential of the user (and the user, under
// its nickname of now) in one transaction, and, when the user has no
// unused recovery code left, a fresh set of codes, which it returns: they
// are shown once and only their hashes are kept.
func (st *passkeyStore) addCredential(ctx context.Context, u *passkeyUser, c *webauthn.Credential) ([]string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var codes []string
	err = pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO command_passkey_users (scope, user_id, nickname) VALUES ($1, $2, $3)
			ON CONFLICT (scope, user_id) DO UPDATE SET nickname = EXCLUDED.nickname`, st.scope, int64(u.id), u.nickname); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO command_passkeys (scope, credential_id, user_id, credential) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, st.scope, c.ID, int64(u.id), b)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errCredentialTaken
		}
		var left int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM command_recovery_codes WHERE scope = $1 AND user_id = $2 AND used_at IS NULL`,
			st.scope, int64(u.id)).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return nil
		}
		codes, err = newRecoveryCodes(recoveryCodes)
		if err != nil {
			return err
		}
		for _, code := range codes {
			h := hashRecoveryCode(code)
			if _, err := tx.Exec(ctx, `INSERT INTO command_recovery_codes (scope, code_hash, user_id) VALUES ($1, $2, $3)`,
				st.scope, h[:], int64(u.id)); err != nil {
				return err
			}
		}
		return nil
	})
	return codes, err
}

// errCredentialTaken: the credential id is registered already (to this
// user or another): an authenticator answering twice, or a forged answer.
var errCredentialTaken = errors.New("credential registered already")

// touchCredential records a login: the credential's new state (its sign
// counter, flags) replaces the stored one.
func (st *passkeyStore) touchCredential(ctx context.Context, user schemas.ID, c *webauthn.Credential) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = st.pool.Exec(ctx, `UPDATE command_passkeys SET credential = $4, used_at = now()
		WHERE scope = $1 AND credential_id = $2 AND user_id = $3`, st.scope, c.ID, int64(user), b)
	return err
}

// useRecoveryCode marks the code used and returns its user and the
// nickname to sign in under; found is false for a code that is unknown or
// used (the same answer, so a guess learns nothing more).
func (st *passkeyStore) useRecoveryCode(ctx context.Context, code string) (schemas.ID, string, bool, error) {
	h := hashRecoveryCode(code)
	var (
		user int64
		nick string
	)
	err := st.pool.QueryRow(ctx, `WITH used AS (
		UPDATE command_recovery_codes SET used_at = now()
		WHERE scope = $1 AND code_hash = $2 AND used_at IS NULL RETURNING user_id)
		SELECT used.user_id, u.nickname FROM used JOIN command_passkey_users u ON u.scope = $1 AND u.user_id = used.user_id`,
		st.scope, h[:]).Scan(&user, &nick)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, "", false, nil
	case err != nil:
		return 0, "", false, err
	}
	return schemas.ID(user), nick, true, nil
}

// renamed keeps the nickname a passkey signs in under current.
func (st *passkeyStore) renamed(ctx context.Context, user schemas.ID, nickname string) error {
	_, err := st.pool.Exec(ctx, `UPDATE command_passkey_users SET nickname = $3 WHERE scope = $1 AND user_id = $2`,
		st.scope, int64(user), nickname)
	return err
}

// Recovery codes: recoveryCodes of them, each recoveryCodeLen base32
// characters (5 bits each: 50 bits, far beyond what the per-address limit
// lets anyone guess), shown as two groups of 5 ("k3qa7-mz2pd").
const (
	recoveryCodes   = 8
	recoveryCodeLen = 10
)

var codeAlphabet = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRecoveryCodes(n int) ([]string, error) {
	codes := make([]string, n)
	for i := range codes {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		s := strings.ToLower(codeAlphabet.EncodeToString(b[:]))[:recoveryCodeLen]
		codes[i] = s[:5] + "-" + s[5:]
	}
	return codes, nil
}

// normalizeRecoveryCode makes what a person types match what was shown:
// case, spaces and dashes do not matter.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}

// hashRecoveryCode is SHA-256 of the normalised code. A fast hash is
// enough: the codes are 50 random bits, not passwords people choose.
func hashRecoveryCode(code string) [32]byte {
	return sha256.Sum256([]byte(normalizeRecoveryCode(code)))
}
