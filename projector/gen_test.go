package projector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
	"happychat/schemas/idgen"
)

// gen produces a random but plausible event log: users register, rooms are
// created or proposed and approved, users join (switching rooms, with or
// without the explicit room.left{switched} the command service appends),
// leave, post and move read marks. It also mixes in what a projector must
// survive: undecodable records, events on the wrong topic, events of rooms
// that were never created, and records appended twice.
type gen struct {
	names schemas.Names
	rng   *rand.Rand
	ids   *idgen.Gen

	users    []schemas.ID
	nick     map[schemas.ID]string
	open     []schemas.ID
	proposed []schemas.ID
	seq      map[schemas.ID]int64
	in       map[schemas.ID]schemas.ID // the command side's idea of each user's room
	msgs     map[schemas.ID][]schemas.ID
	roomRecs []*kgo.Record // valid rooms-topic records, for duplicates

	convs genConvs // private rooms and direct messages (gen_conv_test.go)
	mod   genMod   // blocks and reports (gen_moderation_test.go)

	recs []*kgo.Record
	// poison controls the share of abnormal records (0 disables them).
	poison float64
}

func newGen(names schemas.Names, seed uint64) *gen {
	ids, err := idgen.New(7)
	if err != nil {
		panic(err)
	}
	return &gen{
		names: names, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ids: ids,
		nick: map[schemas.ID]string{}, seq: map[schemas.ID]int64{}, in: map[schemas.ID]schemas.ID{},
		msgs: map[schemas.ID][]schemas.ID{}, poison: 0.02,
	}
}

func (g *gen) id() schemas.ID {
	id, err := g.ids.Next()
	if err != nil {
		panic(err)
	}
	return id
}

// emit encodes env and appends it to topic under key.
func (g *gen) emit(topic string, key schemas.ID, env schemas.Envelope) *kgo.Record {
	if env.ID == 0 {
		env.ID = g.id()
	}
	env.OccurredAt = schemas.IDTime(env.ID).UTC()
	if env.Seq == 0 && topic == g.names.Rooms {
		g.seq[env.RoomID]++
		env.Seq = g.seq[env.RoomID]
	}
	// Users-topic events are written in their first version: readmark.moved
	// v1 is a user event, v2 a room event.
	level := math.MaxInt
	if topic == g.names.Users {
		level = schemas.Events.LevelOf(env.Payload.EventType(), 1)
	}
	v, version, err := schemas.Events.EncodeAt(env, level)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", env.Payload, err))
	}
	r := &kgo.Record{Topic: topic, Key: schemas.Key(key), Value: v, Headers: []kgo.RecordHeader{
		{Key: schemas.HeaderType, Value: []byte(env.Payload.EventType())},
		{Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(version))},
	}}
	g.recs = append(g.recs, r)
	if topic == g.names.Rooms {
		g.roomRecs = append(g.roomRecs, r)
	}
	return r
}

func (g *gen) register() schemas.ID {
	u := g.id()
	g.users = append(g.users, u)
	g.nick[u] = fmt.Sprintf("user-%d 🐱", len(g.users))
	g.emit(g.names.Users, u, schemas.Envelope{UserID: u, Payload: schemas.UserRegistered{Nickname: g.nick[u]}})
	return u
}

func (g *gen) createRoom() schemas.ID {
	r := g.id()
	g.open = append(g.open, r)
	g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, Payload: schemas.RoomCreated{
		Title: fmt.Sprintf("room %d", len(g.open)), Description: "Happy cats 😺 快乐"}})
	return r
}

func (g *gen) propose() {
	if len(g.users) == 0 {
		return
	}
	r := g.id()
	g.proposed = append(g.proposed, r)
	g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: g.pick(g.users), Payload: schemas.RoomProposed{
		Title: "proposal", Description: "please"}})
}

func (g *gen) approve() {
	if len(g.proposed) == 0 {
		return
	}
	i := g.rng.IntN(len(g.proposed))
	r := g.proposed[i]
	g.proposed = append(g.proposed[:i], g.proposed[i+1:]...)
	g.open = append(g.open, r)
	g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, Payload: schemas.RoomApproved{}})
}

func (g *gen) pick(xs []schemas.ID) schemas.ID { return xs[g.rng.IntN(len(xs))] }

func (g *gen) join() {
	if len(g.users) == 0 || len(g.open) == 0 {
		return
	}
	u, r := g.pick(g.users), g.pick(g.open)
	prev, had := g.in[u]
	if had && prev == r {
		return
	}
	join := g.id()
	g.emit(g.names.Rooms, r, schemas.Envelope{ID: join, RoomID: r, UserID: u, Payload: schemas.RoomJoined{Nickname: g.nick[u]}})
	g.in[u] = r
	// The owner of the previous room appends the switch when it sees the
	// join; sometimes it has not yet (the fold must not need it).
	if had && g.rng.Float64() < 0.85 {
		g.emit(g.names.Rooms, prev, schemas.Envelope{RoomID: prev, UserID: u, Payload: schemas.RoomLeft{
			Reason: schemas.LeftReasonSwitched, Nickname: g.nick[u], SwitchedTo: r, JoinID: join}})
	}
}

func (g *gen) leave() {
	for u, r := range g.in {
		// Some leaves are an admin's kick or ban (level 5): they end the
		// membership as a leave does.
		var p schemas.Event = schemas.RoomLeft{Reason: schemas.LeftReasonLeft, Nickname: g.nick[u]}
		switch g.rng.IntN(8) {
		case 0:
			p = schemas.MemberRemoved{Nickname: g.nick[u], Reason: "spam"}
		case 1:
			p = schemas.MemberBanned{Nickname: g.nick[u], Member: true}
		}
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: p})
		delete(g.in, u)
		return
	}
}

func (g *gen) message() {
	var u, r schemas.ID
	for uu, rr := range g.in {
		u, r = uu, rr
		break
	}
	if u == 0 {
		return
	}
	m := g.id()
	g.msgs[r] = append(g.msgs[r], m)
	texts := []string{"hello darn world", "congrats 🎉", "喜喜 happy birthday", "plain", "heck yes"}
	g.emit(g.names.Rooms, r, schemas.Envelope{ID: m, RoomID: r, UserID: u, Payload: schemas.MessageSent{
		Text: texts[g.rng.IntN(len(texts))], ClientMsgID: fmt.Sprintf("c-%d", m), Nickname: g.nick[u]}})
}

// rename gives a user a new nickname, and its room's member the same when
// it is in one (the command service's two events).
func (g *gen) rename() {
	if len(g.users) == 0 {
		return
	}
	u := g.pick(g.users)
	prev := g.nick[u]
	g.nick[u] = fmt.Sprintf("하늘이-%d", g.rng.IntN(1000))
	g.emit(g.names.Users, u, schemas.Envelope{UserID: u, Payload: schemas.UserRenamed{Nickname: g.nick[u], Previous: prev}})
	if r, ok := g.in[u]; ok {
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.MemberRenamed{Nickname: g.nick[u], Previous: prev}})
	}
}

func (g *gen) readMark() {
	if len(g.users) == 0 || len(g.open) == 0 {
		return
	}
	r := g.pick(g.open)
	if len(g.msgs[r]) == 0 {
		return
	}
	u := g.pick(g.users)
	g.emit(g.names.Users, u, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.ReadMarkMoved{UpTo: g.pick(g.msgs[r])}})
	// Level 5: a member's mark as a room event (v2), in no particular
	// order: the views keep the greatest of both versions.
	for m, in := range g.in {
		if len(g.msgs[in]) > 0 {
			g.emit(g.names.Rooms, in, schemas.Envelope{RoomID: in, UserID: m, Payload: schemas.ReadMarkMoved{UpTo: g.pick(g.msgs[in])}})
		}
		break
	}
}

// abnormal appends one record a projector must survive.
func (g *gen) abnormal() {
	switch g.rng.IntN(5) {
	case 0: // not even JSON
		topic := g.names.Rooms
		if g.rng.IntN(2) == 0 {
			topic = g.names.Users
		}
		g.recs = append(g.recs, &kgo.Record{Topic: topic, Key: []byte("x"), Value: []byte("\x00garbage{")})
	case 1: // an unknown event type at a seq its room already has: it cannot
		// be the room's next event, so it is poison (one above the room's seq
		// would be a newer build's event, which blocks the partition instead:
		// upgrade_test.go)
		if len(g.open) > 0 {
			r := g.pick(g.open)
			g.recs = append(g.recs, &kgo.Record{Topic: g.names.Rooms, Key: schemas.Key(r),
				Value: []byte(`{"id":"1","type":"room.exploded","version":1,"room_id":"` + r.String() + `","seq":1,"occurred_at":"2026-01-01T00:00:00.000Z","payload":{}}`)})
		}
	case 2: // a user event on the rooms topic
		u := g.id()
		v, _ := schemas.Events.Encode(schemas.Envelope{ID: u, UserID: u, OccurredAt: schemas.IDTime(u),
			Payload: schemas.UserRegistered{Nickname: "misplaced"}})
		g.recs = append(g.recs, &kgo.Record{Topic: g.names.Rooms, Key: schemas.Key(u), Value: v})
	case 3: // a room that was never created
		r := g.id()
		u := g.id()
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.MessageSent{
			Text: "ghost", ClientMsgID: "ghost", Nickname: "ghost"}})
	case 4: // a record appended twice
		if len(g.roomRecs) > 0 {
			r := g.roomRecs[g.rng.IntN(len(g.roomRecs))]
			g.recs = append(g.recs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
		}
	}
}

// run generates about n records with the given mix of actions.
func (g *gen) run(n int, mix genMix) []*kgo.Record {
	start := len(g.recs)
	for len(g.users) < mix.users {
		g.register()
	}
	for len(g.open) < mix.rooms {
		g.createRoom()
	}
	total := mix.join + mix.leave + mix.message + mix.readMark + mix.propose + mix.approve + mix.register + mix.rename + mix.conversation
	for len(g.recs)-start < n {
		if g.poison > 0 && g.rng.Float64() < g.poison {
			g.abnormal()
			continue
		}
		x := g.rng.Float64() * total
		switch {
		case x < mix.join:
			g.join()
		case x < mix.join+mix.leave:
			g.leave()
		case x < mix.join+mix.leave+mix.message:
			g.message()
		case x < mix.join+mix.leave+mix.message+mix.readMark:
			g.readMark()
		case x < mix.join+mix.leave+mix.message+mix.readMark+mix.propose:
			g.propose()
		case x < mix.join+mix.leave+mix.message+mix.readMark+mix.propose+mix.approve:
			g.approve()
		case x < mix.join+mix.leave+mix.message+mix.readMark+mix.propose+mix.approve+mix.rename:
			g.rename()
		case x < mix.join+mix.leave+mix.message+mix.readMark+mix.propose+mix.approve+mix.rename+mix.conversation:
			g.conversation()
		default:
			g.register()
		}
	}
	return g.recs[start:]
}

// genMix weighs the actions of gen.run.
type genMix struct {
	users, rooms                                                       int
	join, leave, message, readMark, propose, approve, rename, register float64
	conversation                                                       float64 // level 4
}

// churn is membership-heavy: it exercises the fold.
var churn = genMix{users: 40, rooms: 8, join: 30, leave: 8, message: 40, readMark: 10, propose: 2, approve: 2, rename: 3, register: 3, conversation: 6}

// chatty is message-heavy: a busy chat.
var chatty = genMix{users: 300, rooms: 50, join: 4, leave: 1, message: 90, readMark: 4, propose: 0.2, approve: 0.2, register: 0.5, conversation: 1}
