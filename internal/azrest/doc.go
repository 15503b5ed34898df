// Package azrest is rotatord's JSON-over-azcore call: the one way its REST
// clients (package pbi for the Power BI API, package fabric for the Fabric
// API) send a request and read its answer, with one set of retry rules.
//
// A Client is an azcore pipeline — the bearer-token policy for the service's
// scope and azcore's retry policy (exponential backoff with jitter on 408,
// 429, 5xx and network errors, Retry-After obeyed), with a timeout on each
// wire attempt — and adds what rotatord needs on top:
//
//   - Response bodies are bounded (wire.LimitBodies), and a 2xx whose body is
//     cut short, or empty where a GET's document is due, is retried like a
//     dropped connection (wire.CompleteBody).
//   - A Retry-After beyond the backoff cap is waited out, on the client's
//     clock, up to Options.MaxRetryAfter; above it, or past the context's
//     deadline, the call fails at once, marked as not worth retrying before
//     a later tick (Failure.WaitLonger).
//   - A 401 makes the client fetch a fresh token and send the request once
//     more.
//   - The re-sends spend one budget: inside a tick, the tick's retry budget
//     (package budget, wire.SpendBudget), shared with every other call and
//     layer of the tick, with the tick's backoffs; outside one,
//     Options.MaxRetries+1 wire attempts per call.
//   - Every wire attempt is reported to Options.OnResponse under the call's
//     operation id, 0 for a transport failure.
//   - List follows a listing's next-page links, only to an https URL on the
//     API URL's host and port, under its path — the bearer token goes nowhere
//     else —, never to a page read before, for at most MaxPages pages and
//     MaxListing bytes, and returns nothing of a listing it could not finish.
//
// What differs per service is a Service: its name and the inventory key of
// its API URL, which the hints name ("could not reach Fabric — check
// network, proxy and fabric.api_url"), and Service.Fail, which makes the
// service's own typed error of every failure — a non-2xx answer, whose body
// only the service knows how to read, a transport failure, a refused link.
// The core never puts a request body or a dump of a response into an error;
// CleanCode and CleanMessage are what a service keeps of an error body, and
// CleanMessage drops any message holding a secret of the context
// (secret.WithValues).
package azrest
