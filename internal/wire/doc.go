// Package wire holds what rotatord's HTTP clients share below their retry
// policy. KeepOrigin gives the daemon's *http.Client, which every client
// (Power BI, Key Vault, Entra ID and managed identity, and any added later)
// sends through, a redirect rule: never off the scheme, host and port a
// request was sent to. CompleteBody, in every client, reads each response
// body itself, bounded by a limit per call (MaxErrorBody for errors), and
// makes a success a success only once its body has arrived whole.
// SpendBudget, in the Power BI and Key Vault clients, takes each retry of a
// call out of the tick's retry budget (package budget).
//
// A 200 whose body is empty or cut short is what a client sees when a proxy,
// a load balancer or a server that gave up on the request loses the answer.
// It is the same fault as a dropped connection, so it is retried like one,
// within the same retry budget, and reported like one when it
// persists. Read as a success, it would become a zero-valued secret, token
// or gateway key. And since such a retry can start while Go's transport is
// still sending the first attempt's request body, every attempt sends a copy
// of the body of its own.
//
// A redirect off the origin, a body over its limit and a certificate that
// does not verify are different: the endpoint is hostile or wrong, and
// asking again would only send the same credentials or read the same
// endless body again. They fail the call with a *RedirectError, a
// *TooLargeError or a *TLSError, which azcore's retry policy does not retry
// (Final reports them) and whose text carries no URL path, query or body.
package wire
