// Package leader elects one rotatord among several running on one
// inventory: the process holding the lease on a blob in Azure Storage leads
// and rotates, the others stand by and campaign at a jittered interval
// until the lease is free.
//
// # Two leaders never PATCH one data source at once
//
// A lease is granted for a duration D counted by the storage service from
// when it handles the request. The leader counts its own term from before
// it sent the acquire or renew request that succeeded (t0), so its term,
// t0 + D − D/10, ends before the service's lease can. Every call that changes
// Power BI runs under Term.Work, which is cancelled when the term ends; no
// tick starts once Term.Valid is false (checked on the monotonic clock
// before each start, so a process resumed after a pause or a stopped VM
// starts nothing even before its timers fire). A renewal is sent every
// D/3; the first that fails or returns too late ends the term for new
// ticks at once (Term.Context), and the ticks in flight keep only what is
// left of the lease. Another process can acquire the lease only after the
// service's lease expired or was released, which is after this process's
// term ended: so its first PATCH comes after the last one of the old
// leader was cancelled or finished. The D/10 margin covers the two
// processes' clocks running at different rates and the time a cancelled
// request takes to be torn down.
//
// What this cannot cover is a request already handed to the kernel when
// the term ends: cancelling it closes the connection, but the service may
// still be processing it. The margin is that request's time to finish.
//
// The state a leader writes is guarded separately, by ETag (package state):
// a deposed leader's write is refused, never merged.
package leader
