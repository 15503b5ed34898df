// Package scheduler decides when each data source is rotated; it never knows
// what a rotation does. It runs the function each Job is given, on the Job's
// cron schedule plus jitter, earlier when the last run reported an expiry,
// with retries inside a tick, and never two ticks of one job at once. With
// Options.MaxRunning it also runs at most that many ticks at all at once:
// the rest wait, in due order, as entries rather than goroutines.
//
// Times come from an injected clock.Clock and randomness from an injected
// func() float64, so every instant the scheduler picks can be asserted
// exactly in tests: NextRun is the pure function behind each choice.
//
// Robfig's cron.Cron is not used to run jobs because it reads the real
// clock; only its parser and Schedule.Next are used, to compute times.
package scheduler
