package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"happychat/schemas"
)

// parallel runs f(0..n-1) on up to workers goroutines and joins the errors.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// registerUsers makes n users.
func (r *run) registerUsers(ctx context.Context, n int, prefix string) ([]*user, error) {
	users := make([]*user, n)
	err := parallel(n, 16, func(i int) error {
		u, err := r.sys.api.register(ctx, fmt.Sprintf("%s-%d", prefix, i))
		users[i] = u
		return err
	})
	return users, err
}

// setupRooms opens n rooms of members users each (joined), and, with
// subscribe, puts every member on a socket (alternating realtime
// instances). The rooms are the scenario's: the checks cover them. From
// the feature level of private rooms (4) every privateEvery-th room is one:
// opened by its first member, entered by the others through an invite, so
// that conversation.created, invite.created and member.added are under the
// faults too.
func (r *run) setupRooms(ctx context.Context, n, members int, subscribe bool) ([]*room, error) {
	users, err := r.registerUsers(ctx, n*members, r.name)
	if err != nil {
		return nil, err
	}
	// A private room needs a member to open it: rooms opened empty (lobbies
	// that users join later) stay topics.
	privates := members > 0 && r.sys.level >= schemas.Events.LevelOf(schemas.TypeConversationCreated, 1)
	rooms := make([]*room, n)
	for i := range rooms {
		rooms[i] = &room{members: users[i*members : (i+1)*members], private: privates && i%privateEvery == privateEvery-1}
	}
	if err := parallel(n, 8, func(i int) error {
		rm, title := rooms[i], fmt.Sprintf("%s %d 🌈", r.name, i)
		var err error
		if !rm.private {
			rm.id, err = r.sys.api.openRoom(ctx, title)
			return err
		}
		if rm.id, err = r.sys.api.openPrivate(ctx, rm.members[0], title); err != nil {
			return err
		}
		rm.invite, err = r.sys.api.invite(ctx, rm.members[0], rm.id, max(1, members-1))
		return err
	}); err != nil {
		return nil, err
	}
	if err := parallel(n*members, 16, func(i int) error {
		rm, u := rooms[i/members], users[i]
		switch {
		case !rm.private:
			if ans := r.sys.api.join(ctx, u, rm.id); ans.status != http.StatusOK {
				return fmt.Errorf("join %s to room %d: %s", u.nick, rm.id, ans)
			}
		case u != rm.members[0]:
			if ans := r.sys.api.accept(ctx, u, rm.invite); ans.status != http.StatusOK {
				return fmt.Errorf("%s accepting the invite to private room %d: %s", u.nick, rm.id, ans)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	r.rooms = append(r.rooms, rooms...)
	r.sys.mu.Lock()
	for _, rm := range rooms {
		if rm.private {
			if r.sys.readers == nil {
				r.sys.readers = map[schemas.ID]string{}
			}
			r.sys.readers[rm.id] = rm.members[0].token
		}
	}
	r.sys.mu.Unlock()
	if np := len(rooms) / privateEvery; privates && np > 0 {
		r.notef("%d of %d rooms private, entered by invite", np, len(rooms))
	}
	if subscribe {
		urls := r.sys.realtimeURLs()
		for _, rm := range rooms {
			for j, u := range rm.members {
				r.subs = append(r.subs, startSubscriber(ctx, fmt.Sprintf("%s/%s", r.name, u.nick), rm.id, u, urls, j, r.l))
			}
		}
	}
	return rooms, nil
}

// privateEvery makes every privateEvery-th room of a scenario private.
const privateEvery = 4

// startLoad runs a load in the background. The returned stop ends it:
// no new sends, the sends in flight finish (or time out); it marks the end
// of the load. A load with a count ends by itself; stop then waits for it.
func (r *run) startLoad(ctx context.Context, spec loadSpec) (stop func()) {
	halt := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.sys.api.runLoad(ctx, r.l, spec, halt)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			if spec.count == 0 {
				close(halt)
			}
			<-done
			r.loadEnd = time.Now()
		})
	}
}

// faultLoad is the paced load every fault scenario runs under: sends, from
// the feature level of message changes edits, reactions and deletes of them,
// and from the level of room read marks moves of the members' marks.
func (r *run) faultLoad(rooms []*room) loadSpec {
	return loadSpec{rooms: rooms, workers: r.size.FaultWorkers, rate: r.size.FaultRate,
		body: defaultBody(r.name), timeout: r.size.SendTimeout,
		changes: r.sys.level >= schemas.Events.LevelOf(schemas.TypeMessageEdited, 1),
		reads:   r.sys.level >= schemas.Events.LevelOf(schemas.TypeReadMarkMoved, schemas.Events.Version(schemas.TypeReadMarkMoved))}
}

// pause sleeps d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// joinAll has every user of users join room at once (each through the
// next command instance), returning the final status of each join.
func (r *run) joinAll(ctx context.Context, users []*user, room schemas.ID) []int {
	out := make([]int, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() { out[i] = r.sys.api.join(ctx, u, room).status })
	}
	wg.Wait()
	return out
}
