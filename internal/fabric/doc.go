// Package fabric is rotatord's client for the Fabric REST API's connection
// operations (spec/fabric): the connections that live on virtual-network
// gateways, on gateway clusters of several members, or with the newer
// credential types, which an inventory entry names by connection_id.
//
// It reads a connection (GetConnection: its connectivity type and gateway),
// the gateway (GetGateway) and, for on-premises clusters, the members whose
// public keys encrypt the credentials (ListGatewayMembers); it PATCHes a
// connection's credentials (UpdateConnectionCredentials: one encrypted
// value per member for OnPremisesGateway, one for OnPremisesGatewayPersonal,
// typed credentials in clear over TLS for cloud and virtual-network
// connections); it asks whether the connection connects (TestConnection,
// polling the long-running operation Fabric may start); and it lists, adds,
// changes and removes the connection's role assignments. For `rotatord
// discover` it lists every connection the identity may use
// (ListConnections).
//
// Every listing follows the answer's continuationToken, sent back as
// ?continuationToken= on the first page's URL, or, without one, its
// continuationUri, only when that is an https URL on the API URL's host and
// port and under its path; a listing never asks for a page twice, stops
// with an error at its 1000th page or past 64 MiB, and returns nothing of a
// listing it could not finish.
//
// It is built on package azrest, as package pbi is: azcore's pipeline with
// the bearer-token policy for the Fabric scope and azcore's retry policy
// (408, 429, 5xx and network errors, Retry-After obeyed), bounded bodies,
// a 2xx cut short or a GET's empty 200 retried like a dropped connection, a
// Retry-After beyond the backoff cap waited out up to
// Options.MaxRetryAfter on Options.Clock, a 401 re-sent once with a fresh
// token, all in the tick's retry budget (package budget). Every attempt is
// reported to Options.OnResponse under the swagger operationId.
//
// Every failure is a typed *Error with the operation, the status, Fabric's
// errorCode and requestId when it sent them, and a hint naming what to
// check (connection_id, fabric.api_url, the permissions). Errors never
// carry a request body (it holds the credentials) nor a dump of the
// response; Fabric's own message is kept, as one printable line of at most
// 300 characters, unless it echoes anything that was sent or any secret
// the caller put in the context (secret.WithValues).
//
// A connection test that did not connect — an Offline answer, an operation
// that failed, a 400 to the test or to a PATCH that tested the new
// credential — has an Error.ConnectionFailure: one of package connstatus's
// reasons, classified from Fabric's error code and message
// (IncorrectCredentials is connstatus.Rejected, a DM_GWPipeline_UnknownError
// naming GatewayNotFound connstatus.GatewayUnreachable). Only
// connstatus.Rejected blames the credential.
//
// The package does not read the inventory: callers pass it plain values,
// and secrets only as secret.Secret.
package fabric
