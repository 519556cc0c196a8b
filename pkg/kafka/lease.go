package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
)

// LeaseConfig configures RunLeased.
type LeaseConfig struct {
	Connection ConnectionConfig
	// Group is the consumer group the lease is held in. Required.
	Group string
	// Topic is the topic whose first partition is the lease: created with one partition
	// when missing. Its records are never read or written. Required.
	Topic string
	// SessionTimeout, HeartbeatInterval, RebalanceTimeout and JoinGroupBackoff are the
	// group's, as in SubscriberConfig (defaults 30s, 3s, 30s, 5s). A holder that dies is
	// replaced about SessionTimeout after its last heartbeat.
	SessionTimeout, HeartbeatInterval, RebalanceTimeout, JoinGroupBackoff time.Duration
	// Refusal, when not nil, is kept up to date by RunLeased with Kafka's refusal of Group
	// to this client (see GroupRefusal), for a readiness check to report: a process refused
	// the group never holds the lease.
	Refusal *GroupRefusal
}

func (c *LeaseConfig) setDefaults() {
	c.Connection.setDefaults()
	setGroupDefaults(&c.SessionTimeout, &c.HeartbeatInterval, &c.RebalanceTimeout, &c.JoinGroupBackoff)
}

// Validate reports whether the configuration is usable.
func (c LeaseConfig) Validate() error {
	if err := c.Connection.Validate(); err != nil {
		return err
	}
	if c.Group == "" || c.Topic == "" {
		return errors.New("kafka: a lease needs Group and Topic")
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return errors.New("kafka: HeartbeatInterval must be shorter than SessionTimeout")
	}
	return nil
}

// RunLeased runs fn while this process holds the lease of cfg.Group: it is the member of
// the group assigned the first partition of cfg.Topic. Of the processes running RunLeased
// with the same group and topic, one runs fn and the others wait; one of them takes over
// when the holder leaves (its ctx ends), dies (SessionTimeout after its last heartbeat)
// or loses Kafka. fn's context ends when the lease is lost or ctx ends, and until fn
// returned RunLeased keeps this process in the group, heartbeating for it once kafka-go's
// heartbeats ended with the generation, so that no other member takes the lease
// meanwhile. When ctx ended, it leaves the group once fn returned, however long fn
// takes, unless a member joins or leaves meanwhile: the group then rebalances, as when
// the lease is lost. When the lease was lost (a member joined or left: the group
// rebalances), the group waits for the holder to rejoin or leave, which it does once fn
// returned, for at most RebalanceTimeout from the rebalance's start, which the holder
// learns at its next heartbeat: a fn that takes longer than RebalanceTimeout less
// HeartbeatInterval to return overlaps with the next holder's. A holder whose
// heartbeats do not reach Kafka is dropped SessionTimeout after its last one, as one
// that died, fn running or not. fn runs again whenever the lease comes back. holding,
// when not nil, is told when fn starts (true) and when it returned (false).
//
// RunLeased returns nil once ctx ended, or what fn returned when fn ended by itself (its
// context had not ended): the caller decides whether to go on. Either way it leaves the
// group first, and no goroutine or connection of it remains.
func RunLeased(ctx context.Context, cfg LeaseConfig, logger watermill.LoggerAdapter, holding func(bool), fn func(context.Context) error) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if holding == nil {
		holding = func(bool) {}
	}
	logger = logger.With(watermill.LogFields{"lease_group": cfg.Group, "lease_topic": cfg.Topic})
	socks := newSockets(cfg.Connection.DialTimeout)
	defer socks.closeAll()
	dialer, err := cfg.Connection.dialer(socks)
	if err != nil {
		return err
	}
	transport, err := cfg.Connection.transport(socks)
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	// Without the topic no member is assigned anything, and nobody would hold the lease.
	admin := &kafkago.Client{Addr: kafkago.TCP(cfg.Connection.Brokers...), Transport: transport, Timeout: 30 * time.Second}
	createFails := Streak{Every: StreakInterval}
	for {
		err := createTopic(ctx, admin, cfg.Topic, 1, -1)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		createFails.LogFailure(logger, watermill.ErrorLogLevel, "Creating the lease topic failed; trying again after JoinGroupBackoff", err, nil)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.JoinGroupBackoff):
		}
	}
	createFails.LogWorks(logger, "Creating the lease topic works again", nil)
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                cfg.Group,
		Brokers:           cfg.Connection.Brokers,
		Dialer:            dialer,
		Topics:            []string{cfg.Topic},
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		JoinGroupBackoff:  cfg.JoinGroupBackoff,
		Timeout:           cfg.Connection.DialTimeout,
		Logger:            kafkaLogger(logger, false),
		ErrorLogger:       kafkaLogger(logger, true),
	})
	if err != nil {
		return fmt.Errorf("kafka: joining lease group %s: %w", cfg.Group, err)
	}
	// Closing the group ends the generation (fn's context with it), waits for fn and
	// leaves the group.
	defer func() { _ = cg.Close() }()
	joins := newGroupJoins("Lease group", cfg.Group, cfg.Refusal)
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return nil
			}
			joins.failed(logger, err)
			continue
		}
		joins.joined(logger, gen.ID)
		held := false
		for _, a := range gen.Assignments[cfg.Topic] {
			held = held || a.ID == 0
		}
		type result struct {
			err  error
			lost bool // the generation ended while ctx had not
		}
		done := make(chan result, 1)
		gen.Start(func(gctx context.Context) {
			if !held {
				<-gctx.Done() // the next generation may bring the lease
				done <- result{lost: true}
				return
			}
			fctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(gctx, cancel)
			defer stop()
			release := keepMember(gctx, admin, cfg.Group, cfg.HeartbeatInterval, gen, logger)
			logger.Info("Lease taken", watermill.LogFields{"generation": gen.ID})
			holding(true)
			err := fn(fctx)
			holding(false)
			release()
			lost := gctx.Err() != nil && ctx.Err() == nil
			logger.Info("Lease given up", watermill.LogFields{"generation": gen.ID, "lost": lost})
			done <- result{err: err, lost: lost}
		})
		select {
		case r := <-done:
			if r.lost {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			return r.err // fn ended by itself
		case <-ctx.Done():
			_ = cg.Close() // ends the generation: fn's context, or the wait for the next one
			<-done
			return nil
		}
	}
}
