// Package daemon assembles rotatord from its configuration: it wires the
// identity, Power BI client, Key Vault clients, encryption pool, rotator,
// scheduler, state file, metrics and HTTP listener together, and carries out
// the commands that need them (run, once, plan) including reload and
// graceful shutdown.
package daemon
