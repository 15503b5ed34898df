// Package daemon assembles rotatord from its configuration: it wires the
// identity, Power BI client, Key Vault clients, encryption pool, rotator,
// scheduler, state file or blob, metrics and HTTP listener together, and
// carries out the commands that need them (run, once, plan) including
// reload and graceful shutdown.
//
// With ha: the daemon serves its listener at once but schedules only in
// the lease terms it leads (package leader): each term reads the state
// blob, runs the scheduler with every tick bound to the term, and writes
// the state at its end.
package daemon
