package kafka

// AllowDrainPastRebalance lets c's DrainTimeout (with HeartbeatInterval) reach its RebalanceTimeout, which
// SubscriberConfig.Validate refuses otherwise: tests of a member that the group evicts
// while it still drains (its late commits must not land) need one.
func AllowDrainPastRebalance(c *SubscriberConfig) { c.drainPastRebalance = true }
