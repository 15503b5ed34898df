// Package limit bounds how many requests one service's client has in flight.
//
// A Transport sits at the bottom of an azcore pipeline, below the retry
// policy, so a call waiting out a backoff or a Retry-After holds no slot,
// and a slot is held until the response body is closed, which is when the
// connection is free again. rotatord gives each service its own Transport
// (Power BI, Key Vault, the identity's token endpoint; the storage client
// of a later stage takes one the same way), so that a tick storm opens at
// most that many connections to each, and a slow service cannot starve the
// others of slots.
package limit
