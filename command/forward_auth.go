package command

import (
	"slices"

	"happychat/internal/cmdproto"
	"happychat/schemas"
	"happychat/schemas/token"
)

// A forwarded command is trusted for nothing it states about its caller.
// The internal secret proves only that another instance of the system sent
// it, and every realtime instance, every command instance and whoever reads
// one of their environments can derive it; so the owner verifies the
// caller's own credential again, as the public route did, and takes the
// caller's identity from it.

// forwardable are the room commands one instance may send to another. The
// switch-leave is never forwarded: each owner derives its own from its
// tail.
var forwardable = map[Kind]bool{
	KindCreateRoom: true, KindApproveRoom: true, KindRejectRoom: true, KindJoin: true, KindLeave: true, KindSend: true,
	KindEdit: true, KindDelete: true, KindReact: true, KindUnreact: true, KindPresence: true, KindRename: true,
	KindCreatePrivate: true, KindInvite: true, KindAcceptInvite: true, KindAddMember: true, KindCreateDirect: true,
	KindReadMark: true,
	KindKick:     true, KindBan: true, KindUnban: true, KindCloseRoom: true,
	KindBlock: true, KindUnblock: true, KindReport: true, KindResolveReport: true,
}

// adminKinds are the commands the admin token may forward: it acts as no
// user, so only as an admin.
var adminKinds = map[Kind]bool{
	KindCreateRoom: true, KindApproveRoom: true, KindRejectRoom: true, KindDelete: true,
	KindKick: true, KindBan: true, KindUnban: true, KindCloseRoom: true,
	KindResolveReport: true,
}

// verifyForwarded checks a forwarded command against its credential and
// sets its caller fields from it. Presence reads no caller.
func (s *Service) verifyForwarded(cmd *Command) *schemas.Error {
	if !forwardable[cmd.Kind] {
		return badRequest("this command kind is never forwarded")
	}
	if cmd.Kind == KindPresence {
		return nil
	}
	if cmd.Credential == "" {
		return schemas.Errorf(schemas.CodeUnauthorized, "a forwarded command must carry its caller's credential")
	}
	if s.adminToken.Matches(cmd.Credential) {
		if !adminKinds[cmd.Kind] || cmd.UserID != 0 {
			return forbidden("the admin token does not act as a user")
		}
		cmd.Admin, cmd.Nickname = true, ""
		return nil
	}
	claims, err := s.cfg.Keys.Verify(cmd.Credential)
	if err != nil {
		return token.Refusal(err)
	}
	if cmd.Admin || cmd.UserID != claims.UserID || cmd.Kind == KindApproveRoom || cmd.Kind == KindRejectRoom ||
		cmd.Kind == KindCloseRoom || cmd.Kind == KindResolveReport {
		return forbidden("the command does not match its caller's credential")
	}
	if cmd.Kind != KindRename {
		// A rename carries the new name, which its decision validates;
		// every other command acts under the token's.
		cmd.Nickname = claims.Nickname
	}
	if cmd.Kind == KindCreateDirect || cmd.Kind == KindAddMember || cmd.Kind == KindBlock {
		return s.verifyPeer(cmd)
	}
	return nil
}

// verifyPeer finds a forwarded command's peer nickname again, here: from
// the share code it carries, or from this instance's fold. The sender's
// word is not taken for it.
func (s *Service) verifyPeer(cmd *Command) *schemas.Error {
	if cmd.ShareCode != "" {
		u, n, err := s.readShareCode(cmd.ShareCode)
		if err != nil || u != cmd.Peer {
			return badRequest("share_code is not a share code of this service")
		}
		cmd.PeerNickname = n
		return nil
	}
	n, err := s.peerNickname(cmd.Peer)
	if err != nil {
		return schemas.AsError(err)
	}
	cmd.PeerNickname = n
	return nil
}

// internalAuthorized reports whether got is one of the secrets a route
// accepts (compared by digest, cmdproto.SecretMatches). Every accepted
// secret is compared, also after a match, so the time taken does not say
// which one matched.
func internalAuthorized(got string, accepted []string) bool {
	ok := false
	for _, a := range accepted {
		if a != "" && cmdproto.SecretMatches(got, a) {
			ok = true
		}
	}
	return ok
}

// acceptedSecrets are the secrets the forwarding route (forward) and the
// presence route (presence) accept: the current ones and those derived from
// previous token secrets. The forwarding secrets open the presence route
// too; the presence secrets open nothing else.
func acceptedSecrets(c Config) (forward, presence []string) {
	forward = append([]string{c.InternalSecret}, c.PreviousInternalSecrets...)
	presence = append(append(slices.Clone(forward), c.PresenceSecret), c.PreviousPresenceSecrets...)
	return forward, presence
}
