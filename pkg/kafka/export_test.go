package kafka

// AllowDrainPastRebalance lets c's DrainTimeout reach its RebalanceTimeout, which
// SubscriberConfig.Validate refuses otherwise: tests of a member that the group evicts
// while it still drains (its late commits must not land) need one.
func AllowDrainPastRebalance(c *SubscriberConfig) { c.drainPastRebalance = true }

// CommitFailuresBeforeError is how many commits in a row fail before the Subscriber logs
// it at error level.
const CommitFailuresBeforeError = commitFailuresBeforeError
