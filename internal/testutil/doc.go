// Package testutil holds the helpers that several packages' tests share: a
// buffer that can be read while it is written, a wait on a condition, and
// the hostile files (a FIFO, a link to /dev/zero) put where a regular file
// belongs, and for the Azure REST clients' tests a counting token
// credential and a recorder of what the OnResponse hook saw.
//
// It serves tests only; no production package imports it.
package testutil
