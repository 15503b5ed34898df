// Package testutil holds the helpers that several packages' tests share: a
// buffer that can be read while it is written, and a wait on a condition.
//
// It serves tests only; no production package imports it.
package testutil
