package emulator

import (
	"maps"
	"net/http"
	"strings"
	"time"
)

// gatewayNotFoundMessage is what Test Connection says of a gateway that is
// gone (spec example TestConnectionOffline.json).
const gatewayNotFoundMessage = "Error response with StatusCode: BadRequest, ErrorCode: GatewayNotFound, ErrorMessage: 'GatewayContainer does not exist'"

// fabTest is the outcome of trying a credential against a connection's
// data source.
type fabTest struct {
	online        bool
	code, message string // the ConnectionStatusError when not online
	rejected      bool   // the data source refused the login
}

// testLocked tries fields against c's data source, in the order the checks
// happen: the gateway, a credential to try (pushed false: none was ever
// accepted), the network, then the login. The lock is held.
func (f *Fabric) testLocked(c *fabConnection, fields map[string]string, pushed bool) fabTest {
	if c.ConnectivityType != FabricShareableCloud {
		if g := f.gateways[strings.ToLower(c.GatewayID)]; g == nil || g.offline {
			return fabTest{code: FabricCodeGatewayUnknownError, message: gatewayNotFoundMessage}
		}
	}
	refused := func() fabTest {
		// Data sources name the user they refused, never the password.
		msg := "Login failed."
		for _, name := range []string{"username", "servicePrincipalClientId", "identifier"} {
			if u, ok := fields[name]; ok {
				msg = "Login failed for user '" + u + "'."
				break
			}
		}
		// Through a gateway, the gateway pipeline relays the database's
		// own error; in the cloud Fabric reports its own code.
		code := CodeDataSourceAccessError
		if c.ConnectivityType == FabricShareableCloud {
			code = FabricCodeIncorrectCredentials
		}
		return fabTest{code: code, message: msg, rejected: true}
	}
	if !pushed {
		return refused()
	}
	if c.unreachable {
		return fabTest{code: CodeDataSourceAccessError, message: sqlNetworkMessage}
	}
	if c.accept != nil && !maps.Equal(fields, c.accept) {
		return refused()
	}
	return fabTest{online: true}
}

// statusJSON is t as the swagger ConnectionStatusResponse.
func (t fabTest) statusJSON() map[string]any {
	if t.online {
		return map[string]any{"status": "Online", "errors": []any{}}
	}
	return map[string]any{"status": "Offline", "errors": []any{map[string]any{"errorCode": t.code, "message": t.message}}}
}

// fabOperation is a long-running Test Connection.
type fabOperation struct {
	id               string
	running          int // Get Operation State answers still to say Running
	succeeded        bool
	created, updated time.Time
	result           fabTest
}

// serveTest answers Test Connection with the status of the credential the
// connection holds: at once, or as a long-running operation (SetTestMode).
func (f *Fabric) serveTest(w http.ResponseWriter, r *http.Request, rt fabRoute) {
	f.mu.Lock()
	c := f.connections[strings.ToLower(rt.connectionID)]
	var (
		t     fabTest
		polls int
	)
	if c != nil && c.ConnectivityType != FabricStreamingVirtualNetworkGateway {
		var fields map[string]string
		if n := len(c.history); n > 0 {
			fields = c.history[n-1].Fields
		}
		t = f.testLocked(c, fields, len(c.history) > 0)
		polls = c.testPolls
	}
	var op *fabOperation
	if c != nil && polls > 0 {
		now := f.now()
		op = &fabOperation{id: newRequestID(), running: polls - 1, created: now, updated: now, result: t}
		f.operations[op.id] = op
	}
	f.mu.Unlock()
	switch {
	case c == nil:
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested connection was not found.")
	case c.ConnectivityType == FabricStreamingVirtualNetworkGateway:
		fabricError(w, http.StatusBadRequest, FabricCodeUnsupportedConnectivityType, "Test Connection is not supported for StreamingVirtualNetworkGateway connections.")
	case op != nil:
		h := w.Header()
		h.Set("Location", "https://"+r.Host+"/v1/operations/"+op.id)
		h.Set("x-ms-operation-id", op.id)
		h.Set("Retry-After", "1")
		w.WriteHeader(http.StatusAccepted)
	default:
		fabricJSON(w, http.StatusOK, t.statusJSON())
	}
}

// serveOperationState answers Get Operation State: Running until the
// operation's polls are spent, then Succeeded, with a Location to poll or,
// once it succeeded, to its result.
func (f *Fabric) serveOperationState(w http.ResponseWriter, r *http.Request, rt fabRoute) {
	f.mu.Lock()
	op := f.operations[strings.ToLower(rt.operationID)]
	var body map[string]any
	if op != nil {
		if op.running > 0 {
			op.running--
		} else if !op.succeeded {
			op.succeeded = true
		}
		op.updated = f.now()
		body = map[string]any{
			"status":             "Running",
			"createdTimeUtc":     op.created.UTC().Format(time.RFC3339Nano),
			"lastUpdatedTimeUtc": op.updated.UTC().Format(time.RFC3339Nano),
			"percentComplete":    50,
		}
		if op.succeeded {
			body["status"] = "Succeeded"
			body["percentComplete"] = 100
		}
	}
	succeeded := op != nil && op.succeeded
	f.mu.Unlock()
	if op == nil {
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested operation was not found.")
		return
	}
	h := w.Header()
	h.Set("x-ms-operation-id", op.id)
	if succeeded {
		h.Set("Location", "https://"+r.Host+"/v1/operations/"+op.id+"/result")
	} else {
		h.Set("Location", "https://"+r.Host+"/v1/operations/"+op.id)
		h.Set("Retry-After", "1")
	}
	fabricJSON(w, http.StatusOK, body)
}

// serveOperationResult answers Get Operation Result: the Test Connection
// status once the operation has succeeded, a 400 before.
func (f *Fabric) serveOperationResult(w http.ResponseWriter, rt fabRoute) {
	f.mu.Lock()
	op := f.operations[strings.ToLower(rt.operationID)]
	var (
		succeeded bool
		t         fabTest
	)
	if op != nil {
		succeeded, t = op.succeeded, op.result
	}
	f.mu.Unlock()
	switch {
	case op == nil:
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested operation was not found.")
	case !succeeded:
		fabricError(w, http.StatusBadRequest, FabricCodeOperationNotSucceeded, "The operation has not succeeded yet; poll its state until it has.")
	default:
		fabricJSON(w, http.StatusOK, t.statusJSON())
	}
}
