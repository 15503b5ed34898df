// Package pbi is rotatord's client for the Power BI REST API's gateway
// operations: read a gateway's public key and a data source, PATCH a data
// source's credentials, and list, add and remove data source users.
//
// It is built on azcore's pipeline — the bearer-token policy for the Power BI
// scope and azcore's retry policy (exponential backoff with jitter on 408,
// 429, 5xx and network errors, Retry-After obeyed) — and adds what Power BI
// needs on top: Retry-After values beyond azcore's delay cap (Power BI sends
// up to an hour) are either waited out or, above Options.MaxRetryAfter,
// reported at once as a throttled *Error; a 401 makes the client fetch a
// fresh token and send the request once more; and every failure is a typed
// *Error with the Power BI error code, the RequestId and a hint saying what to
// check. Errors never carry a request body (it holds the credentials) nor a
// dump of the response.
//
// The package knows nothing of the inventory; it is a leaf that rotate uses.
package pbi
