package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"happychat/internal/clientjson"
	"happychat/internal/cmdproto"
	"happychat/internal/viewpos"
	"happychat/schemas"
)

// Forwarding: a room command that reaches an instance which does not own
// the room's partition goes to the owner over the internal protocol, whose
// rules are written down in internal/cmdproto. This file is both its server
// (handleInternal, getPresence) and the forwarding client (forward).

// forwardIdlePerHost is how many idle connections the forwarding client
// keeps to each owner (of 512 in all, see cmdproto.NewHTTPClient): one for
// every request forwarded to it at once.
const forwardIdlePerHost = 256

// Execute runs a room command on the owner of the room's partition: here if
// this instance owns it, else forwarded. Its position in the log (where the
// owner or the forwarded answer says its events are) goes to the request's
// viewpos.Recorder, for the answer's viewpos.Header.
func (s *Service) Execute(ctx context.Context, cmd Command) (Result, error) {
	res, err := s.execute(ctx, cmd)
	if err == nil && res.Position != "" {
		if p, perr := viewpos.Parse(res.Position); perr == nil {
			viewpos.Note(ctx, p)
		}
	}
	return res, err
}

func (s *Service) execute(ctx context.Context, cmd Command) (Result, error) {
	select {
	case <-s.running:
	case <-ctx.Done():
		return Result{}, unavailable("the command service is starting")
	}
	p := s.partitionOf(cmd.RoomID)
	// Right after a start or during a rebalance a partition may have no
	// owner for a moment: wait briefly for one rather than fail at once.
	deadline := time.Now().Add(ownerWait)
	var lastErr error
	for {
		var (
			addr string
			err  error
		)
		if o := s.ownerOf(p); o != nil {
			s.metrics.commands.WithLabelValues(string(cmd.Kind), "local").Inc()
			res, err := o.submit(ctx, cmd)
			if err != errNotOwner { //nolint:errorlint // the sentinel itself, never wrapped
				if len(res.Records) > 0 {
					res.Position = viewpos.FromRecords(res.Records).String()
				}
				return res, err
			}
			// Revoked before the command was taken into a batch: it was
			// never decided, so it goes to the next owner.
			lastErr = err
			goto wait
		}
		addr, err = s.directory.lookup(ctx, p)
		switch {
		case err != nil:
			lastErr = err
		case addr == "" || addr == s.advertise:
			lastErr = fmt.Errorf("partition %d has no owner yet", p)
		default:
			s.metrics.commands.WithLabelValues(string(cmd.Kind), "forwarded").Inc()
			res, err := s.forward(ctx, addr, cmd)
			if err == nil {
				return res, nil
			}
			if e := (*schemas.Error)(nil); errors.As(err, &e) {
				return Result{}, err
			}
			if errors.Is(err, errForwardTimedOut) {
				// The owner took the command and did not answer within
				// its bound: the outcome is unknown, so it is not sent
				// again from here; the client's retry (same
				// client_msg_id) finds the original if it committed.
				s.log.Warn("forwarded command not answered in time", "partition", p, "err", err)
				return Result{}, retryLater("the room's server did not answer in time, retry")
			}
			lastErr = err
		}
	wait:
		if time.Now().After(deadline) {
			break
		}
		s.directory.invalidate()
		select {
		case <-ctx.Done():
			return Result{}, unavailable("request cancelled")
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.log.Warn("cannot reach the owner", "partition", p, "err", lastErr)
	return Result{}, retryLater("the room's server is not reachable now, retry")
}

// ownerWait bounds how long a request waits for its partition to get an
// owner (a start, a rebalance) before it is answered 503.
const ownerWait = 5 * time.Second

// Ready reports whether this instance has caught up with the log (and so
// joined the owners' group), every partition of the rooms topic has an
// owner and every partition this instance owns is served (for /readyz):
// before that, writes to some rooms would wait or fail. A partition blocked
// on a record this build cannot read is named.
//
// A cold instance is not ready while it catches up, although the others'
// owners would answer what it forwards: a deploy that took it for ready
// would stop the next instance, whose partitions then wait for the cold one
// to finish its catch-up and join the group.
func (s *Service) Ready(ctx context.Context) error {
	select {
	case <-s.running:
	default:
		return errors.New("starting")
	}
	select {
	case <-s.caughtUp:
	default:
		return fmt.Errorf("catching up with the log (%d records folded so far)", s.tail.records())
	}
	if err := s.admin.Ping(ctx); err != nil {
		return err
	}
	var errs []error
	for p := range int32(s.partitions) {
		if err := s.fold.parts[p].blockedErr(); err != nil {
			errs = append(errs, fmt.Errorf("partition %d is blocked: %w", p, err))
			continue
		}
		if o := s.ownerOf(p); o != nil {
			if !o.ready.Load() {
				errs = append(errs, fmt.Errorf("partition %d: its owner here is not ready", p))
			}
			continue
		}
		addr, err := s.directory.lookup(ctx, int32(p))
		if err != nil {
			return err
		}
		if addr == "" || addr == s.advertise {
			errs = append(errs, fmt.Errorf("partition %d has no owner yet", p))
		}
	}
	return errors.Join(errs...)
}

// forwardReply is the protocol's answer to a forwarded command.
type forwardReply = cmdproto.Reply[Result]

// forwardSlack is what a forwarded command may take beyond the owner's own
// bound (Config.WriteTimeout): the hop, the owner's checks of the
// credential, the encoding of the answer.
const forwardSlack = time.Second

// errForwardTimedOut is the cause of a forwarded command's wait ending at
// its bound: the owner is unreachable or hung.
var errForwardTimedOut = errors.New("the owner did not answer within the write timeout")

// forward sends cmd to the owner at addr and waits for its answer, at most
// the write timeout and forwardSlack: an owner answers within the write
// timeout whatever its brokers do, so a longer wait means it is not
// answering at all (errForwardTimedOut).
func (s *Service) forward(ctx context.Context, addr string, cmd Command) (Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.WriteTimeout+forwardSlack, errForwardTimedOut)
	defer cancel()
	timedOut := func(err error) error {
		if context.Cause(ctx) == errForwardTimedOut { //nolint:errorlint // the sentinel itself
			return fmt.Errorf("forward to %s: %w (%w)", addr, errForwardTimedOut, err)
		}
		return fmt.Errorf("forward to %s: %w", addr, err)
	}
	body, err := schemas.Marshal(cmd)
	if err != nil {
		return Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+cmdproto.CommandsPath, bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(cmdproto.SecretHeader, s.cfg.InternalSecret)
	resp, err := s.http.Do(req)
	if err != nil {
		return Result{}, timedOut(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, timedOut(err)
	}
	var rep forwardReply
	if err := schemas.StrictUnmarshal(b, &rep); err != nil {
		return Result{}, fmt.Errorf("forward to %s: status %d: %w", addr, resp.StatusCode, err)
	}
	if rep.Error != nil {
		if rep.Error.Code == schemas.CodeUnavailable && resp.StatusCode == cmdproto.StatusNotOwner {
			return Result{}, fmt.Errorf("forward to %s: not the owner", addr)
		}
		// The error's wait travels in the header, as on the public routes.
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
			rep.Error.RetryAfter = time.Duration(n) * time.Second
		}
		return Result{}, rep.Error
	}
	if rep.Result == nil {
		return Result{}, fmt.Errorf("forward to %s: empty answer", addr)
	}
	return *rep.Result, nil
}

// getPresence answers a split realtime service's membership check with the
// owner's authoritative members (internal: same secret as forwarding).
func (s *Service) getPresence(c *gin.Context) {
	// The realtime service's presence secret opens this route and no other.
	if !internalAuthorized(c.GetHeader(cmdproto.SecretHeader), s.presenceSecrets) {
		s.fail(c, schemas.Errorf(schemas.CodeUnauthorized, "internal route"))
		return
	}
	room, err := schemas.ParseID(c.Param("id"))
	if err != nil {
		s.fail(c, badRequest("room id must be a decimal id"))
		return
	}
	members, seq, err := s.Presence(c.Request.Context(), room)
	s.respond(c, http.StatusOK, cmdproto.Presence{Members: members, Seq: seq}, err)
}

// handleInternal executes a forwarded command if this instance owns the
// room's partition (cmdproto.StatusNotOwner otherwise, so the sender
// refreshes its directory).
func (s *Service) handleInternal(c *gin.Context) {
	if !internalAuthorized(c.GetHeader(cmdproto.SecretHeader), s.forwardSecrets) {
		c.AbortWithStatusJSON(http.StatusUnauthorized, forwardReply{Error: schemas.Errorf(schemas.CodeUnauthorized, "internal route")})
		return
	}
	b, err := io.ReadAll(io.LimitReader(c.Request.Body, 1<<20))
	if err != nil {
		renderInternal(c, http.StatusBadRequest, forwardReply{Error: badRequest("cannot read the command")})
		return
	}
	var cmd Command
	if err := clientjson.Decode("command", b, &cmd); err != nil {
		renderInternal(c, http.StatusBadRequest, forwardReply{Error: schemas.AsError(err)})
		return
	}
	if e := s.verifyForwarded(&cmd); e != nil {
		renderInternal(c, e.Code.Status(), forwardReply{Error: e})
		return
	}
	// The partition count is known once Run has started: a command
	// forwarded to an instance still starting waits for that, as Execute
	// does (it used to divide by a zero partition count).
	select {
	case <-s.running:
	case <-c.Request.Context().Done():
		renderInternal(c, http.StatusServiceUnavailable, forwardReply{Error: unavailable("the command service is starting")})
		return
	}
	o := s.ownerOf(s.partitionOf(cmd.RoomID))
	if o == nil {
		renderInternal(c, cmdproto.StatusNotOwner, forwardReply{Error: errNotOwner})
		return
	}
	res, err := o.submit(c.Request.Context(), cmd)
	if err == errNotOwner { //nolint:errorlint // the sentinel itself, never wrapped
		// Revoked before the command was taken into a batch: it was never
		// decided, so the sender may give it to the next owner, as Execute
		// does for a local one.
		renderInternal(c, cmdproto.StatusNotOwner, forwardReply{Error: errNotOwner})
		return
	}
	if err != nil {
		e := schemas.AsError(err)
		if e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
		renderInternal(c, e.Code.Status(), forwardReply{Error: e})
		return
	}
	renderInternal(c, http.StatusOK, forwardReply{Result: &res})
}

func renderInternal(c *gin.Context, status int, v forwardReply) {
	b, err := schemas.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encode"}}`)
	}
	c.Data(status, "application/json", b)
}
