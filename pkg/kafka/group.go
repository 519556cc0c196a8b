package kafka

import (
	"errors"
	"fmt"
	"sync/atomic"

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
