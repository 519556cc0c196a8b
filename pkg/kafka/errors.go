package kafka

// The classification of Kafka's answers for the parts of the connector that create and
// read topics of their own (the GetItemInventory poller's mark topic, the outbound
// applied-ids store), so that they agree on which answers they can go past.

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	kafkago "github.com/segmentio/kafka-go"
)

// Refused reports whether err says that Kafka refuses the connector for good: its
// credentials (SASL) or its rights (ACLs) on a topic, a group or the cluster. Asking again
// cannot mend that until someone changes them.
func Refused(err error) bool {
	for _, code := range []kafkago.Error{kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
		kafkago.GroupAuthorizationFailed, kafkago.TransactionalIDAuthorizationFailed, kafkago.SASLAuthenticationFailed,
		kafkago.UnsupportedSASLMechanism, kafkago.IllegalSASLState} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}

// CreateRefused reports whether err, from creating a topic, is Kafka refusing the
// connector the right to create topics: TOPIC_AUTHORIZATION_FAILED or
// CLUSTER_AUTHORIZATION_FAILED. Kafka checks that right before it looks whether the topic
// exists, so it answers so for a topic that exists too: the caller goes on to read the
// topic, which serves when an admin made it beforehand, and reports the refusal along
// with the topic only when that is missing. Every such error is Refused as well.
func CreateRefused(err error) bool {
	return errors.Is(err, kafkago.TopicAuthorizationFailed) || errors.Is(err, kafkago.ClusterAuthorizationFailed)
}

// Transient reports whether err may pass by itself, so that asking again later is worth
// it: Kafka not answering (a network error, a timeout, a connection closed under the
// request) or answering a code that says a broker is busy or moving (those kafka-go
// calls Temporary, such as NOT_CONTROLLER, REQUEST_TIMED_OUT and LEADER_NOT_AVAILABLE,
// and BROKER_NOT_AVAILABLE, which kafka-go does not count among them). Any other error
// stays until someone changes the request or the cluster: Kafka refusing the connector
// (Refused), or rejecting the request as it stands (POLICY_VIOLATION, INVALID_CONFIG,
// INVALID_REPLICATION_FACTOR, UNSUPPORTED_VERSION). An error that carries a refusal is
// not transient, whatever else it carries.
func Transient(err error) bool {
	if err == nil || Refused(err) {
		return false
	}
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary() || kerr == kafkago.BrokerNotAvailable
	}
	var nerr net.Error // also context.DeadlineExceeded: a request's own time limit
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// ClientError returns err, an error of a kafka-go Client method, without the
// method's name that kafka-go writes before it ("kafka.(*Client).Metadata: "),
// which tells an operator nothing: the caller says in its own words what
// failed ("reading the metadata of t from broker b: dial tcp ...: connection
// refused"). Only that name goes: what it returns is the error kafka-go
// wrapped, so errors.Is and errors.As find the same causes in it (and
// Refused and Transient answer the same). Any other error, nil among them,
// is returned as it is.
func ClientError(err error) error {
	inner := errors.Unwrap(err)
	if inner == nil {
		return err
	}
	method, ok := strings.CutSuffix(err.Error(), ": "+inner.Error())
	if ok && strings.HasPrefix(method, "kafka.(*") && !strings.Contains(method, " ") {
		return inner
	}
	return err
}
