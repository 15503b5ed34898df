// Package wire holds the azcore pipeline policies rotatord's clients put
// below their retry policy: CompleteBody, in every client (Power BI, Key
// Vault, Entra ID and managed identity), for which a success is a success
// only once its body has arrived whole; and SpendBudget, in the Power BI and
// Key Vault clients, which takes each retry of a call out of the tick's
// retry budget (package budget).
//
// A 200 whose body is empty or cut short is what a client sees when a proxy,
// a load balancer or a server that gave up on the request loses the answer.
// It is the same fault as a dropped connection, so it is retried like one,
// within the same retry budget, and reported like one when it
// persists. Read as a success, it would become a zero-valued secret, token
// or gateway key. And since such a retry can start while Go's transport is
// still sending the first attempt's request body, every attempt sends a copy
// of the body of its own.
package wire
