// Package cli is rotatord's command line: it parses the arguments, runs one
// subcommand against the standard streams it is given, and turns the
// outcome into an exit code (ExitOK, ExitFailure, ExitUsage), so that
// cmd/rotatord stays a few lines and every command can be tested in-process.
//
// A subcommand is a func(ctx, *Env, args) int with a one-line summary in the
// table returned by commands. Those that read the inventory (run, once,
// plan, check, demo) parse their flags with inventoryFlags, which adds the
// shared -config, -log-format and -log-level; encrypt and version, which
// share none, use newFlagSet and parseFlags. Every error is one
// "rotatord NAME: ..." line on stderr.
package cli
