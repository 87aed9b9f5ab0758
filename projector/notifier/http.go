package notifier

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"happychat/internal/clientjson"
	"happychat/internal/httperr"
	"happychat/internal/ratelimit"
	"happychat/internal/viewpos"
	"happychat/schemas"
	"happychat/schemas/token"
)

// maxBodyBytes caps a request body: a subscription is well under 3 KiB.
const maxBodyBytes = 8 << 10

// Register mounts the notifier's public routes on r. Behind a proxy of
// split services they go to the notifier: /v1/push/… and
// /v1/rooms/{id}/mute.
func (s *Service) Register(r gin.IRouter) {
	addr := s.addrLimit.Gin()
	r.GET("/v1/push/vapid-key", addr, s.getVAPIDKey)
	r.POST("/v1/push/subscriptions", addr, s.postSubscription)
	r.DELETE("/v1/push/subscriptions", addr, s.deleteSubscriptionRoute)
	r.GET("/v1/push/mutes", addr, s.getMutes)
	r.PUT("/v1/rooms/:id/mute", addr, s.putMute)
	r.DELETE("/v1/rooms/:id/mute", addr, s.deleteMute)
}

func (s *Service) getVAPIDKey(c *gin.Context) {
	respond(c, http.StatusOK, map[string]string{"public_key": s.cfg.VAPIDPublicKey})
}

func (s *Service) postSubscription(c *gin.Context) {
	user, ok := s.authenticate(c)
	var in Subscription
	if !ok || !s.bind(c, &in) {
		return
	}
	sub, err := in.validate(s.cfg.AllowLoopback)
	if err == nil {
		err = s.saveSubscription(c.Request.Context(), user, sub)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Service) deleteSubscriptionRoute(c *gin.Context) {
	user, ok := s.authenticate(c)
	var in struct {
		Endpoint string `json:"endpoint"`
	}
	if !ok || !s.bind(c, &in) {
		return
	}
	if err := checkEndpointToDelete(in.Endpoint); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.deleteSubscription(c.Request.Context(), user, in.Endpoint); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Service) getMutes(c *gin.Context) {
	user, ok := s.authenticate(c)
	if !ok {
		return
	}
	rooms, err := s.mutes(c.Request.Context(), user)
	if err != nil {
		s.fail(c, err)
		return
	}
	respond(c, http.StatusOK, map[string][]schemas.ID{"room_ids": append([]schemas.ID{}, rooms...)})
}

func (s *Service) putMute(c *gin.Context)    { s.mute(c, true) }
func (s *Service) deleteMute(c *gin.Context) { s.mute(c, false) }

// mute sets or clears the caller's mute of a room the views know.
func (s *Service) mute(c *gin.Context, muted bool) {
	user, ok := s.authenticate(c)
	if !ok {
		return
	}
	room, err := schemas.ParseID(c.Param("id"))
	if err != nil {
		s.fail(c, badRequest("room id must be a positive decimal integer string"))
		return
	}
	ctx := c.Request.Context()
	// Read-your-writes: a mute right after the join that the position
	// names must find the room the join made visible (viewpos).
	if err := viewpos.WaitHeader(ctx, s.cfg.PG, c.GetHeader(viewpos.Header), []string{s.cfg.Names.Rooms, s.cfg.Names.Users}); err != nil {
		s.fail(c, err)
		return
	}
	if _, known, err := s.roomTitle(ctx, room); err != nil || !known {
		s.fail(c, cmpErr(err, schemas.Errorf(schemas.CodeNotFound, "no such room")))
		return
	}
	if err := s.setMute(ctx, user, room, muted); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// cmpErr is err if set, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// authenticate requires a user token (the admin has no devices) and takes
// a token of the user's limit of these routes.
func (s *Service) authenticate(c *gin.Context) (schemas.ID, bool) {
	tok, ok := token.FromHeader(c.GetHeader("Authorization"))
	if !ok || tok == "" {
		s.fail(c, schemas.Errorf(schemas.CodeUnauthorized, "missing bearer token: these routes need a user session"))
		return 0, false
	}
	claims, err := s.cfg.Keys.Verify(tok)
	if err != nil {
		s.fail(c, token.Refusal(err))
		return 0, false
	}
	if ok, wait := s.userLimit.Allow(claims.UserID); !ok {
		s.fail(c, ratelimit.Limited("too many push settings changes, try again later", wait))
		return 0, false
	}
	return claims.UserID, true
}

// bind reads the JSON body (capped) strictly into v (clientjson.Body).
func (s *Service) bind(c *gin.Context, v any) bool {
	if err := clientjson.Body(c.Writer, c.Request, maxBodyBytes, v, true); err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

func respond(c *gin.Context, status int, v any) {
	b, err := schemas.Marshal(v)
	if err != nil {
		httperr.Write(c.Writer, schemas.AsError(err))
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// fail renders err as the error envelope; internal errors are logged only.
func (s *Service) fail(c *gin.Context, err error) {
	e := schemas.AsError(err)
	if e.Code == schemas.CodeInternal {
		s.log.Error("notifier request failed", "route", c.FullPath(), "err", err)
	}
	httperr.Write(c.Writer, e)
	c.Abort()
}
