// Package clocktest is a manually advanced clock.Clock for tests. Fake moves
// only when a test says so and fires timers in deadline order, so tests in
// any package can assert exact instants instead of bounds. Nothing on a
// production path imports it.
package clocktest
