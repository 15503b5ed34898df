// Package state keeps the small per-data-source record rotatord writes to
// its state_file: when each credential was last set, from which Key Vault
// version, when it expires and what the last failure was. It lets metrics
// such as credential age survive a restart, and lets a restarted daemon tell
// an OAuth2 token that is about to die from one that was never set.
//
// The file is only ever replaced whole (temp file, fsync, rename), so a crash
// leaves the old or the new version, never half of one. A file that cannot
// be read back is set aside and reported, never fatal: losing the history
// costs one early rotation, refusing to start costs every rotation.
//
// One process writes a state file: Open locks PATH.lock for the Store's
// lifetime, and refuses a directory or file that another user could write,
// since the state decides which rotations are skipped.
//
// Processes that share one inventory under ha: keep the state in a blob
// instead (OpenBlob), in the same format: Load reads it at every take-over,
// and Save writes it on the condition that it is still the version this
// process last read or wrote (If-Match on its ETag), so that a process that
// lost the lease can never overwrite its successor's records.
//
// A command that only reads the state (plan) opens it with OpenReadOnly: it
// may run before the daemon ever did, so a missing directory is an empty
// state there, and it takes no lock, and renames and writes nothing.
package state
