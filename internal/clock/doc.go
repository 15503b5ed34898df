// Package clock is the seam between rotatord's timing logic and the wall
// clock. Code that decides when something happens (the scheduler, retry
// backoff) takes a Clock instead of calling time.Now or time.NewTimer, so
// tests can drive it with a Fake and assert exact instants instead of bounds.
//
// Real returns the production clock. Fake is a manually advanced clock for
// tests in any package.
package clock
