// Package clock is the seam between rotatord's timing logic and the wall
// clock. Code that decides when something happens (the scheduler, retry
// backoff) takes a Clock instead of calling time.Now or time.NewTimer, so
// tests can drive it with a fake and assert exact instants instead of bounds.
//
// Real returns the production clock. The manually advanced fake for tests
// lives in package clocktest, out of the production build.
package clock
