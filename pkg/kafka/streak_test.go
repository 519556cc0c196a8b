package kafka_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
)

// TestStreak: a run of failures is logged at its first failure (or, with after, the first
// once it has lasted that long), then at most once per Every (never again with Every 0),
// with the failures in a row and how long they have lasted; Works ends it, saying
// whether a line of it was logged, and the next failure begins a new run.
func TestStreak(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		every  time.Duration
		after  time.Duration
		fails  []time.Duration // the failures' times from t0, in a row
		logged []int           // the indexes of fails Fail says to log
	}{
		{"one line per run", 0, 0, []time.Duration{0, time.Second, time.Hour}, []int{0}},
		{"every minute", time.Minute, 0,
			[]time.Duration{0, time.Second, 59 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute, 3 * time.Minute},
			[]int{0, 3, 5, 6}},
		{"once it lasted after", 0, 30 * time.Second, []time.Duration{0, 10 * time.Second, 30 * time.Second, time.Hour}, []int{2}},
		{"after, then every minute", time.Minute, 30 * time.Second,
			[]time.Duration{0, 40 * time.Second, 90 * time.Second, 100 * time.Second}, []int{1, 3}},
		{"a run too short to log", 0, 30 * time.Second, []time.Duration{0, time.Second}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := kafka.Streak{Every: tc.every}
			var logged []int
			for i, d := range tc.fails {
				if s.Fail(t0.Add(d), tc.after) {
					logged = append(logged, i)
				}
				assert.Equal(t, i+1, s.Failures())
				assert.Equal(t, d, s.FailingFor(t0.Add(d)))
			}
			assert.Equal(t, tc.logged, logged)
			ended, wasLogged := s.Works()
			assert.Equal(t, len(tc.logged) > 0, wasLogged, "Works says whether the run was logged")
			assert.Equal(t, len(tc.fails), ended.Failures(), "the run as it ended")
			assert.Equal(t, 0, s.Failures(), "Works ends the run")
			assert.Equal(t, tc.every, s.Every, "Works keeps Every")

			// The next failure begins a run of its own.
			later := t0.Add(2 * time.Hour)
			assert.Equal(t, tc.after == 0, s.Fail(later, tc.after))
			assert.Equal(t, 1, s.Failures())
			assert.Zero(t, s.FailingFor(later))
		})
	}
}

// TestStreakLogFailure: a loop that fails n times in a row, faster than Every, logs one
// line at its level (error or info) with failures_in_a_row and failing_for, the other
// failures at debug level with their error, and one info line once it works again; a
// loop that never failed logs nothing when it works.
func TestStreakLogFailure(t *testing.T) {
	const n = 50
	errDown := errors.New("kafka is down")
	for _, tc := range []struct {
		name  string
		level watermill.LogLevel
	}{{"error", watermill.ErrorLogLevel}, {"info", watermill.InfoLogLevel}} {
		level := tc.level
		t.Run(tc.name, func(t *testing.T) {
			logs := newLogRecorder()
			s := kafka.Streak{Every: time.Hour}
			s.LogWorks(logs, "Creating works again", nil)
			require.Empty(t, logs.find(watermill.InfoLogLevel, ""), "no run, no line")
			for range n {
				s.LogFailure(logs, level, "Creating failed; trying again", errDown, watermill.LogFields{"topic": "t"})
			}
			s.LogWorks(logs, "Creating works again", watermill.LogFields{"topic": "t"})

			loud := logs.find(level, "Creating failed")
			require.Len(t, loud, 1, "one line at the loop's level for %d failures", n)
			assert.EqualValues(t, 1, loud[0].fields["failures_in_a_row"])
			assert.Equal(t, "t", loud[0].fields["topic"])
			if level == watermill.ErrorLogLevel {
				assert.ErrorIs(t, loud[0].err, errDown)
			} else {
				assert.Equal(t, errDown, loud[0].fields["err"])
			}
			quiet := logs.find(watermill.DebugLogLevel, "Creating failed")
			require.Len(t, quiet, n-1, "the other failures at debug level")
			assert.EqualValues(t, n, quiet[n-2].fields["failures_in_a_row"])
			assert.Equal(t, errDown, quiet[n-2].fields["err"])

			works := logs.find(watermill.InfoLogLevel, "Creating works again")
			require.Len(t, works, 1, "one line once it works again")
			assert.EqualValues(t, n, works[0].fields["failures_in_a_row"])
			assert.Equal(t, "t", works[0].fields["topic"])
			_, err := time.ParseDuration(works[0].fields["failing_for"].(string))
			assert.NoError(t, err, "failing_for is a duration")
		})
	}
}

// TestStreakLogFailureRaisesLevel: a failure at error level in a run logged at info level
// (Kafka refusing a group after a coordinator not available yet; Dsco refusing the
// credentials after being away) is logged at once, not up to Every later; the run's
// later failures at either level go to debug level until Every has passed.
func TestStreakLogFailureRaisesLevel(t *testing.T) {
	errDown, errRefused := errors.New("coordinator not available"), errors.New("group authorization failed")
	logs := newLogRecorder()
	s := kafka.Streak{Every: time.Hour}
	for _, f := range []struct {
		level watermill.LogLevel
		err   error
	}{
		{watermill.InfoLogLevel, errDown}, {watermill.InfoLogLevel, errDown}, {watermill.ErrorLogLevel, errRefused},
		{watermill.ErrorLogLevel, errRefused}, {watermill.InfoLogLevel, errDown}, {watermill.ErrorLogLevel, errRefused},
	} {
		s.LogFailure(logs, f.level, "Group error, retrying", f.err, nil)
	}
	require.Len(t, logs.find(watermill.InfoLogLevel, "Group error"), 1, "the run's first failure")
	loud := logs.find(watermill.ErrorLogLevel, "Group error")
	require.Len(t, loud, 1, "the first failure at error level, at once")
	assert.ErrorIs(t, loud[0].err, errRefused)
	assert.EqualValues(t, 3, loud[0].fields["failures_in_a_row"])
	assert.Len(t, logs.find(watermill.DebugLogLevel, "Group error"), 4, "the others")

	s.LogWorks(logs, "Group works again", nil)
	s.LogFailure(logs, watermill.InfoLogLevel, "Group error, retrying", errDown, nil)
	assert.Len(t, logs.find(watermill.InfoLogLevel, "Group error"), 2, "a new run starts at info level again")
}
