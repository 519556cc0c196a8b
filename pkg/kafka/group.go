package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
)

// refusedAdvice says where to look when Kafka refuses this client a consumer group.
const refusedAdvice = "check the ACLs, which must give this client's principal Read on the group, and the SASL credentials"

// GroupRefusal holds Kafka's refusal of a consumer group to this client, if any: set when
// a join of the group is refused (an authorization error, see Refused), cleared when a
// join works. Other failures to join (a coordinator not available yet, a rebalance) leave
// it as it is: they pass by themselves, while a refusal stays until someone changes the
// group's ACLs or the credentials, the group is not joined meanwhile and nothing of it is
// consumed. The zero value holds none. A GroupRefusal is safe for concurrent use.
type GroupRefusal struct {
	err atomic.Pointer[groupRefusedError]
}

// Err returns the refusal held, nil if none: an error naming the group and Kafka's answer,
// which errors.Is finds (kafkago.GroupAuthorizationFailed).
func (r *GroupRefusal) Err() error {
	if e := r.err.Load(); e != nil {
		return e
	}
	return nil
}

// groupRefusedError is Kafka's refusal err of group.
type groupRefusedError struct {
	group string
	err   error
}

func (e *groupRefusedError) Error() string {
	answer := e.err.Error()
	var code kafkago.Error
	if errors.As(e.err, &code) {
		answer = code.Title()
	}
	return fmt.Sprintf("consumer group %q refused: %s (%s)", e.group, answer, refusedAdvice)
}

func (e *groupRefusedError) Unwrap() error { return e.err }

// groupJoins follows the joins of one member of a consumer group (kafka-go's
// ConsumerGroup.Next, which asks again after JoinGroupBackoff): their failures are
// logged as a Streak and a refusal is kept on refusal until a join works. what names the
// group in the lines: "<what> error, retrying", "<what> works again". Not safe for
// concurrent use (refusal is).
type groupJoins struct {
	what, group string
	refusal     *GroupRefusal
	fails       Streak
}

func newGroupJoins(what, group string, refusal *GroupRefusal) *groupJoins {
	if refusal == nil {
		refusal = new(GroupRefusal)
	}
	return &groupJoins{what: what, group: group, refusal: refusal, fails: Streak{Every: StreakInterval}}
}

// failed logs the group's failure err to give a generation: at info level, as a
// rebalance or a coordinator moving fails a join now and then; at error level, saying
// where to look, when Kafka refuses this client the group (Refused: the group's ACLs,
// the SASL credentials), which asking again does not mend: the group is never joined and
// nothing is consumed, while the process otherwise looks well. The refusal is kept.
func (g *groupJoins) failed(logger watermill.LoggerAdapter, err error) {
	if Refused(err) {
		g.refusal.err.Store(&groupRefusedError{group: g.group, err: err})
		g.fails.LogFailure(logger, watermill.ErrorLogLevel, g.what+" error, retrying: Kafka refuses this client the group; "+
			refusedAdvice, err, nil)
		return
	}
	g.fails.LogFailure(logger, watermill.InfoLogLevel, g.what+" error, retrying", err, nil)
}

// joined ends the run of failures, saying so when a line of it was logged, and clears
// the refusal: the group gave generation gen.
func (g *groupJoins) joined(logger watermill.LoggerAdapter, gen int32) {
	g.refusal.err.Store(nil)
	g.fails.LogWorks(logger, g.what+" works again", watermill.LogFields{"generation": gen})
}

// keepMember keeps gen's member in group from gen's end until the caller is done with
// gen, and returns the function that tells it so, which returns once the heartbeats
// stopped. The caller is a function run by gen.Start: it calls release when its own work
// on gen is over (a lease holder's fn returned; a subscriber's drain and final commit
// done), before it returns.
//
// kafka-go's ConsumerGroup stops heartbeating when the generation ends (a rebalance
// begins, or Close is called), and rejoins or leaves the group only once the functions
// gen.Start runs returned. Kafka drops a member that neither heartbeats nor rejoins
// SessionTimeout after its last heartbeat, rebalance or not, so a member that took
// longer than that to stop would be dropped while it still worked: its commits refused
// as stale, its lease or partitions given to another member while it still held them,
// the group rebalancing again. Kafka takes a heartbeat of the generation that ended as
// long as the member has not rejoined: it answers REBALANCE_IN_PROGRESS while a
// rebalance waits for the member, which keeps it in the group up to RebalanceTimeout from
// the rebalance's start; with no rebalance (Close) the member stays until it leaves. So
// keepMember heartbeats every interval from gctx's end (gen's) until release.
//
// The heartbeats go to the group's coordinator, looked up with admin's FindCoordinator
// again after a failure: kafka-go's Client sends a Heartbeat to whichever broker its
// connection reached, and only the coordinator takes it. A failed heartbeat is logged at
// debug level and sent again at the next interval, but for an answer that the group went
// on without the member (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: it did not rejoin within
// RebalanceTimeout), which ends the heartbeats and is logged at error level, as another
// member may then hold the lease or partitions the caller still works on.
func keepMember(gctx context.Context, admin *kafkago.Client, group string, interval time.Duration, gen *kafkago.Generation, logger watermill.LoggerAdapter) (release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			return
		case <-gctx.Done():
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var coordinator net.Addr
		for {
			err := heartbeat(ctx, admin, group, gen, &coordinator)
			if errors.Is(err, kafkago.UnknownMemberId) || errors.Is(err, kafkago.IllegalGeneration) {
				// For good: the group went on without the member.
				logger.Error("The group dropped this member before it was done with its generation: another member may hold what it still holds", err,
					watermill.LogFields{"generation": gen.ID})
				return
			}
			if err != nil && ctx.Err() == nil {
				coordinator = nil
				logger.Debug("Heartbeat of a member whose generation ended failed; sent again at the next interval",
					watermill.LogFields{"generation": gen.ID, "err": err})
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		<-stopped
	}
}

// heartbeat sends one heartbeat of gen's member to the coordinator of group, looking it
// up first when *coordinator is nil. REBALANCE_IN_PROGRESS is a heartbeat taken.
func heartbeat(ctx context.Context, admin *kafkago.Client, group string, gen *kafkago.Generation, coordinator *net.Addr) error {
	if *coordinator == nil {
		res, err := admin.FindCoordinator(ctx, &kafkago.FindCoordinatorRequest{Key: group, KeyType: kafkago.CoordinatorKeyTypeConsumer})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return err
		}
		*coordinator = kafkago.TCP(net.JoinHostPort(res.Coordinator.Host, strconv.Itoa(res.Coordinator.Port)))
	}
	res, err := admin.Heartbeat(ctx, &kafkago.HeartbeatRequest{Addr: *coordinator, GroupID: group, GenerationID: gen.ID, MemberID: gen.MemberID})
	if err == nil {
		err = heartbeatError(res)
	}
	if errors.Is(err, kafkago.RebalanceInProgress) {
		return nil
	}
	return err
}

// heartbeatError is the error of a Heartbeat answer. kafka-go v0.4.51 decodes the
// answer's fields of versions 1 and up in the wrong order (segmentio/kafka-go#1371): it
// takes the first two bytes of throttle_time_ms for the error code, always 0, and the
// error code for the lower half of the throttle time, so that the code is in Throttle,
// as milliseconds. Were kafka-go mended, res.Error would hold it, and a throttled
// heartbeat (Throttle not 0, res.Error nil), rare, would be taken for an error and sent
// again.
func heartbeatError(res *kafkago.HeartbeatResponse) error {
	if res.Error != nil {
		return res.Error
	}
	if code := int16(res.Throttle / time.Millisecond); code != 0 {
		return kafkago.Error(code)
	}
	return nil
}
