package kafka

import (
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// StreakInterval is the least time between two lines of one streak of failures that the
// connector's retry loops log at their level (Streak.Every): a broker down for an hour
// is said about once a minute, not once per attempt.
const StreakInterval = time.Minute

// Streak is a run of failures in a row of something a loop asks again until it works
// (creating a topic while Kafka is down, reading a stored mark, committing offsets),
// kept so that the loop logs the run rather than each attempt. Fail counts a failure and
// says whether it is to be logged at the loop's level (the other failures go to a lower
// one), LogFields and LogAttr give the line how many failures there were in a row and
// for how long (failures_in_a_row, failing_for), and Works ends the run, saying whether
// a line of it was logged: the loop then logs that it works again, once.
//
// The zero Streak logs one line per run (and one more where LogFailure's level rises). A
// Streak is not safe for concurrent use.
type Streak struct {
	// Every is the least time between two lines of a run after its first (0: one line
	// per run).
	Every time.Duration

	failures      int
	since, logged time.Time          // the run's first failure; its last line (zero: none yet)
	level         watermill.LogLevel // the highest level of the run's lines (LogFailure)
}

// Fail counts a failure at now and reports whether to log it: the first failure of the
// run that comes once the run has lasted after (0: its very first failure), then the
// first that comes Every after the line before.
func (s *Streak) Fail(now time.Time, after time.Duration) bool {
	if s.failures == 0 {
		s.since = now
	}
	s.failures++
	if s.logged.IsZero() {
		if now.Sub(s.since) < after {
			return false
		}
	} else if s.Every <= 0 || now.Sub(s.logged) < s.Every {
		return false
	}
	s.logged = now
	return true
}

// Failures is the number of failures in a row of the run.
func (s *Streak) Failures() int { return s.failures }

// FailingFor is how long the run has lasted at now, to the millisecond.
func (s *Streak) FailingFor(now time.Time) time.Duration {
	return now.Sub(s.since).Round(time.Millisecond)
}

// Works ends the run: the next failure begins another. It returns the run as it ended
// and whether a line of it was logged, after which the loop says that it works again.
func (s *Streak) Works() (ended Streak, logged bool) {
	if s.failures == 0 { // no run: what the loops ask after every success
		return Streak{}, false
	}
	ended = *s
	*s = Streak{Every: s.Every}
	return ended, !ended.logged.IsZero()
}

// LogFailure counts err as a failure of the run (Fail, at once: after 0) and logs it on
// logger with the run's fields and fields: at level (watermill.ErrorLogLevel, or
// InfoLogLevel) when Fail says so, or when level is above that of every line of the run
// so far (a failure at error level in a run logged at info level: one that asking again
// does not mend, after some that might, is said at once, not up to Every later), at
// debug level otherwise. fields is not changed.
func (s *Streak) LogFailure(logger watermill.LoggerAdapter, level watermill.LogLevel, msg string, err error, fields watermill.LogFields) {
	now := time.Now()
	due := s.Fail(now, 0)
	if !due && level > s.level {
		s.logged, due = now, true
	}
	if due {
		s.level = max(s.level, level)
	}
	fields = s.LogFields(now, fields)
	if due && level == watermill.ErrorLogLevel {
		logger.Error(msg, err, fields)
		return
	}
	fields["err"] = err
	if due {
		logger.Info(msg, fields)
	} else {
		logger.Debug(msg, fields)
	}
}

// LogWorks ends the run (Works) and, when a line of it was logged, logs msg on logger at
// info level with the run's fields as it ended and fields.
func (s *Streak) LogWorks(logger watermill.LoggerAdapter, msg string, fields watermill.LogFields) {
	if ended, logged := s.Works(); logged {
		logger.Info(msg, ended.LogFields(time.Now(), fields))
	}
}

// LogFields returns fields with the run's failures_in_a_row and failing_for at now added,
// for a Watermill line; fields is not changed.
func (s *Streak) LogFields(now time.Time, fields watermill.LogFields) watermill.LogFields {
	return fields.Add(watermill.LogFields{"failures_in_a_row": s.failures, "failing_for": s.FailingFor(now).String()})
}

// LogAttr returns the run's failures_in_a_row and failing_for at now as one attribute of
// a slog line (a group without a key, whose attributes handlers inline).
func (s *Streak) LogAttr(now time.Time) slog.Attr {
	return slog.Group("", "failures_in_a_row", s.failures, "failing_for", s.FailingFor(now).String())
}
