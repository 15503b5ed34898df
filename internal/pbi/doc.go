// Package pbi is rotatord's client for the Power BI REST API's gateway
// operations: read a gateway's public key, PATCH a data source's
// credentials, ask whether the gateway connects with them
// (GetDatasourceStatus), and list, add and remove data source users.
// For `rotatord discover` it also lists, read-only, the gateways the
// identity is an admin of (GetGateways), a gateway's data sources
// (GetDatasources, GetDatasource), a workspace's datasets
// (GetDatasetsInGroup) and the data sources a dataset uses
// (GetDatasourcesInGroup).
//
// Every list call follows the answer's @odata.nextLink until a page has
// none, and returns the pages' values in order, or nothing when a page
// fails. Each page is a call of its own, with the retries, re-authorization
// and Retry-After waits below, reported to OnResponse under the listing's
// operation. A next-page link is followed only if it is an https URL on the
// API URL's host and port, under its path — the bearer token goes nowhere
// else — and has not been read before in the listing; a listing stops with
// an error at its 1000th page. A refused link fails the listing with an
// *Error for ErrPaging, nothing sent for it.
//
// The status call answers a connection with an empty 200, and a failure
// with a 400 whose error code and details (the database's native error code
// and message) Error.ConnectionFailure turns into one of package
// connstatus's reasons; only connstatus.Rejected blames the credential.
//
// It is built on azcore's pipeline — the bearer-token policy for the Power BI
// scope and azcore's retry policy (exponential backoff with jitter on 408,
// 429, 5xx and network errors, Retry-After obeyed), with a timeout on each
// wire attempt (Options.TryTimeout) — and adds what Power BI needs on top: a
// 2xx whose body is cut short, or empty where a GET's document is due (every
// GET but the status call), is
// retried like a dropped connection (internal/wire); a Retry-After beyond
// azcore's delay cap (Power BI has
// asked for nearly an hour) is waited out up to Options.MaxRetryAfter, and
// above it fails the call at once with an *Error that is not worth retrying
// before a later tick; a 401 makes the client fetch a fresh token and send
// the request once more. The re-sends spend one budget: inside a tick, the
// tick's retry budget (package budget), shared with every other call and
// layer of the tick, with the tick's backoffs, and no wait past the tick's
// deadline; outside one, Options.MaxRetries+1 wire attempts per call.
// Every failure is a typed *Error with the
// operation, the status, the Power BI error code and RequestId when Power BI
// sent them, and a hint saying what to check. Errors never carry a request
// body (it holds the credentials) nor a dump of the response; Power BI's own
// message is kept, as one printable line of at most 300 characters, unless
// it echoes anything that was sent or any secret the caller put in the
// context (secret.WithValues), such as the plain password of an encrypted
// PATCH.
//
// The machinery — the pipeline, the re-sends and their budget, the paging
// and the cleaning of error bodies — is package azrest's, shared with the
// Fabric client; this package says what Power BI's answers mean.
//
// The package does not read the inventory: rotate and daemon pass it plain
// values, and config borrows IsUUID. Its hints name inventory keys
// (gateway_id, powerbi.api_url, encrypt), and discover's --workspace, so an
// operator knows where to look.
package pbi
