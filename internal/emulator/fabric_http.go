package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// fabRoute is a request matched to an operation.
type fabRoute struct {
	op                            string
	connectionID, gatewayID       string
	operationID, roleAssignmentID string
	methodNotAllowed              bool
}

// ServeHTTP serves the connection, gateway and operation APIs under /v1/.
func (f *Fabric) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("RequestId", reqID)
	w.Header().Set("x-ms-request-id", reqID)
	sw := &statusWriter{ResponseWriter: w}
	rt := routeFabric(r)
	defer func() {
		// Deferred so that a dropped connection (a panic on HTTP/2) is recorded too.
		f.mu.Lock()
		f.requests = append(f.requests, RequestRecord{Method: r.Method, Path: r.URL.Path, Operation: rt.op, Status: sw.status})
		f.mu.Unlock()
		f.log.Debug("request", "method", r.Method, "path", r.URL.Path, "operation", rt.op, "status", sw.status, "request_id", reqID)
	}()
	switch {
	case rt.methodNotAllowed:
		fabricError(sw, http.StatusMethodNotAllowed, FabricCodeMethodNotAllowed, "The requested resource does not support http method '"+r.Method+"'.")
		return
	case rt.op == "":
		fabricError(sw, http.StatusNotFound, FabricCodeEntityNotFound, "No API matches "+r.URL.Path)
		return
	}
	if !f.authorized(sw, r, rt) {
		return
	}
	if f.faults.Apply(sw, r, rt.op, f.faultError) {
		return
	}
	for _, param := range [][2]string{{"connectionId", rt.connectionID}, {"gatewayId", rt.gatewayID},
		{"operationId", rt.operationID}, {"connectionRoleAssignmentId", rt.roleAssignmentID}} {
		if name, id := param[0], param[1]; id != "" && !validUUID(id) {
			fabricError(sw, http.StatusBadRequest, FabricCodeInvalidInput, fmt.Sprintf("%s: %q is not a UUID", name, clip(id, 40)))
			return
		}
	}
	switch rt.op {
	case OpFabricListConnections:
		f.serveConnections(sw, r)
	case OpFabricGetConnection:
		f.serveConnection(sw, rt)
	case OpFabricUpdateConnection:
		f.serveUpdate(sw, r, rt)
	case OpFabricTestConnection:
		f.serveTest(sw, r, rt)
	case OpFabricGetOperationState:
		f.serveOperationState(sw, r, rt)
	case OpFabricGetOperationResult:
		f.serveOperationResult(sw, rt)
	case OpFabricListGateways:
		f.serveGateways(sw, r)
	case OpFabricGetGateway:
		f.serveGateway(sw, rt)
	case OpFabricListGatewayMembers:
		f.serveMembers(sw, rt)
	case OpFabricListConnectionRoleAssignments:
		f.serveRoleAssignments(sw, r, rt)
	case OpFabricAddConnectionRoleAssignment:
		f.serveAddRoleAssignment(sw, r, rt)
	case OpFabricGetConnectionRoleAssignment:
		f.serveRoleAssignment(sw, rt)
	case OpFabricUpdateConnectionRoleAssignment:
		f.serveUpdateRoleAssignment(sw, r, rt)
	case OpFabricDeleteConnectionRoleAssignment:
		f.serveDeleteRoleAssignment(sw, rt)
	}
}

// routeFabric matches the escaped path segment by segment.
func routeFabric(r *http.Request) fabRoute {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/")
	if !ok {
		return fabRoute{}
	}
	var seg []string
	for _, s := range strings.Split(strings.TrimSuffix(rest, "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return fabRoute{}
		}
		seg = append(seg, u)
	}
	var rt fabRoute
	var ops map[string]string // method → operation
	switch {
	case len(seg) == 0:
		return fabRoute{}
	case seg[0] == "connections" && len(seg) >= 2 && seg[1] == "supportedConnectionTypes":
		return fabRoute{} // not served
	case seg[0] == "connections" && len(seg) == 1:
		ops = map[string]string{http.MethodGet: OpFabricListConnections}
	case seg[0] == "connections" && len(seg) == 2:
		rt.connectionID = seg[1]
		ops = map[string]string{http.MethodGet: OpFabricGetConnection, http.MethodPatch: OpFabricUpdateConnection}
	case seg[0] == "connections" && len(seg) == 3 && seg[2] == "testConnection":
		rt.connectionID = seg[1]
		ops = map[string]string{http.MethodPost: OpFabricTestConnection}
	case seg[0] == "connections" && len(seg) == 3 && seg[2] == "roleAssignments":
		rt.connectionID = seg[1]
		ops = map[string]string{http.MethodGet: OpFabricListConnectionRoleAssignments, http.MethodPost: OpFabricAddConnectionRoleAssignment}
	case seg[0] == "connections" && len(seg) == 4 && seg[2] == "roleAssignments":
		rt.connectionID, rt.roleAssignmentID = seg[1], seg[3]
		ops = map[string]string{http.MethodGet: OpFabricGetConnectionRoleAssignment,
			http.MethodPatch: OpFabricUpdateConnectionRoleAssignment, http.MethodDelete: OpFabricDeleteConnectionRoleAssignment}
	case seg[0] == "gateways" && len(seg) == 1:
		ops = map[string]string{http.MethodGet: OpFabricListGateways}
	case seg[0] == "gateways" && len(seg) == 2:
		rt.gatewayID = seg[1]
		ops = map[string]string{http.MethodGet: OpFabricGetGateway}
	case seg[0] == "gateways" && len(seg) == 3 && seg[2] == "members":
		rt.gatewayID = seg[1]
		ops = map[string]string{http.MethodGet: OpFabricListGatewayMembers}
	case seg[0] == "operations" && len(seg) == 2:
		rt.operationID = seg[1]
		ops = map[string]string{http.MethodGet: OpFabricGetOperationState}
	case seg[0] == "operations" && len(seg) == 3 && seg[2] == "result":
		rt.operationID = seg[1]
		ops = map[string]string{http.MethodGet: OpFabricGetOperationResult}
	default:
		return fabRoute{}
	}
	rt.op = ops[r.Method]
	rt.methodNotAllowed = rt.op == ""
	return rt
}

// authorized answers the request with 401/403 when it must not be served.
func (f *Fabric) authorized(w http.ResponseWriter, r *http.Request, rt fabRoute) bool {
	switch err := checkAuth(f.authorize, r); {
	case err == nil:
		return true
	case errors.Is(err, ErrDenied):
		code := FabricCodeNoConnectionPermission
		if rt.gatewayID != "" || rt.op == OpFabricListGateways {
			code = FabricCodeNoGatewayPermission
		}
		fabricError(w, http.StatusForbidden, code, "The caller does not have permission to perform this operation.")
	default:
		// Quoted parameters only: azcore's bearer policy parses this header
		// and must find no CAE claims in it.
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`)
		if errors.Is(err, ErrExpired) {
			fabricError(w, http.StatusUnauthorized, FabricCodeTokenExpired, "Access token has expired, resubmit with a new access token")
			return false
		}
		fabricError(w, http.StatusUnauthorized, FabricCodeInvalidToken, "The access token is missing or invalid.")
	}
	return false
}

// fabricErrorBody is the swagger ErrorResponse.
type fabricErrorBody struct {
	RequestID   string              `json:"requestId,omitempty"`
	ErrorCode   string              `json:"errorCode"`
	Message     string              `json:"message"`
	MoreDetails []fabricErrorDetail `json:"moreDetails,omitempty"`
	IsRetriable bool                `json:"isRetriable"`
}

// fabricErrorDetail is the swagger ErrorResponseDetails.
type fabricErrorDetail struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// fabricError writes a Fabric ErrorResponse carrying the request's id.
// message must never contain credentials, but for an EchoSecret fault's.
func fabricError(w http.ResponseWriter, status int, code, message string, details ...fabricErrorDetail) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("x-ms-public-api-error-code", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(fabricErrorBody{
		RequestID:   h.Get("RequestId"),
		ErrorCode:   code,
		Message:     message,
		MoreDetails: details,
		IsRetriable: status == http.StatusTooManyRequests || status >= 500,
	})
}

// faultError writes an injected fault: a 429 without a code is Fabric's
// throttling answer, RequestBlocked; a 5xx UnknownError.
func (f *Fabric) faultError(w http.ResponseWriter, status int, code string) {
	message := http.StatusText(status)
	switch {
	case code != "":
	case status == http.StatusTooManyRequests:
		code = FabricCodeRequestBlocked
		message = "Request is blocked by the upstream service until: " + f.now().UTC().Add(time.Minute).Format("1/2/2006 3:04:05 PM") + " (UTC)"
	case status >= 500:
		code = FabricCodeUnknownError
		message = "An error occurred."
	default:
		code = strings.ReplaceAll(http.StatusText(status), " ", "")
	}
	fabricError(w, status, code, message)
}

func fabricJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads and validates the body of op, answering 400 if it is bad.
func (f *Fabric) readBody(w http.ResponseWriter, r *http.Request, op string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "The request body could not be read.")
		return nil, false
	}
	if err := f.spec.validate(op, body); err != nil {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "The request has invalid input",
			fabricErrorDetail{ErrorCode: "InvalidParameter", Message: err.Error()})
		return nil, false
	}
	return body, true
}

// fabricPage answers a list operation with items, which must be in a
// stable order, as the swagger's list types (PaginatedResponse) with
// Fabric's paging: at most PageSize items from where the request's
// continuationToken points, and a continuationToken and continuationUri
// for the rest, if any, on the host the request named.
func fabricPage[T any](f *Fabric, w http.ResponseWriter, r *http.Request, items []T) {
	start := 0
	if q := r.URL.Query(); q.Has("continuationToken") {
		var ok bool
		if start, ok = parseSkipToken(q.Get("continuationToken"), r.URL.Path); !ok {
			fabricError(w, http.StatusBadRequest, FabricCodeInvalidContinuationToken, "continuationToken: not a continuation token of this list")
			return
		}
	}
	// A token past the end, after the list shrank, gets an empty last page.
	page := items[min(start, len(items)):]
	body := map[string]any{}
	if n := int(f.pageSize.Load()); n > 0 && len(page) > n {
		page = page[:n]
		token := skipToken(r.URL.Path, start+n)
		body["continuationToken"] = token
		body["continuationUri"] = "https://" + r.Host + r.URL.EscapedPath() + "?continuationToken=" + url.QueryEscape(token)
	}
	if page == nil {
		page = []T{}
	}
	body["value"] = page
	fabricJSON(w, http.StatusOK, body)
}

func (f *Fabric) serveConnections(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	list := make([]map[string]any, 0, len(f.connections))
	for _, c := range f.connections {
		list = append(list, c.json())
	}
	f.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
	fabricPage(f, w, r, list)
}

func (f *Fabric) serveConnection(w http.ResponseWriter, rt fabRoute) {
	f.mu.Lock()
	c := f.connections[strings.ToLower(rt.connectionID)]
	var body map[string]any
	if c != nil {
		body = c.json()
	}
	f.mu.Unlock()
	if c == nil {
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested connection was not found.")
		return
	}
	fabricJSON(w, http.StatusOK, body)
}

// json is the swagger Connection of c; the lock is held.
func (c *fabConnection) json() map[string]any {
	name := c.DisplayName
	if name == "" {
		name = "emulated-" + c.ID[:8]
	}
	typ, path := c.Type, c.Path
	if typ == "" {
		typ = "SQL"
	}
	if path == "" {
		path = "emulated-sql.contoso.local;sales"
	}
	privacy := c.PrivacyLevel
	if privacy == "" {
		privacy = "Organizational"
	}
	body := map[string]any{
		"id":                c.ID,
		"displayName":       name,
		"connectivityType":  c.ConnectivityType,
		"connectionDetails": map[string]any{"type": typ, "path": path},
		"privacyLevel":      privacy,
		"credentialDetails": map[string]any{
			"credentialType":       c.CredentialType,
			"singleSignOnType":     c.sso,
			"connectionEncryption": c.encryption,
			"skipTestConnection":   c.skipTest,
		},
		"connectionRecency": map[string]any{"createdDateTime": c.created.UTC().Format(time.RFC3339)},
	}
	if c.GatewayID != "" {
		body["gatewayId"] = c.GatewayID
	}
	if c.ConnectivityType == FabricShareableCloud {
		body["allowConnectionUsageInGateway"] = false
	}
	if n := len(c.history); n > 0 {
		body["connectionRecency"].(map[string]any)["lastCredentialUsedDateTime"] = c.history[n-1].At.UTC().Format(time.RFC3339)
	}
	return body
}

func (f *Fabric) serveGateways(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	list := make([]map[string]any, 0, len(f.gateways))
	for _, g := range f.gateways {
		list = append(list, g.json())
	}
	f.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
	fabricPage(f, w, r, list)
}

func (f *Fabric) serveGateway(w http.ResponseWriter, rt fabRoute) {
	f.mu.Lock()
	g := f.gateways[strings.ToLower(rt.gatewayID)]
	var body map[string]any
	if g != nil {
		body = g.json()
	}
	f.mu.Unlock()
	if g == nil {
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested gateway was not found.")
		return
	}
	fabricJSON(w, http.StatusOK, body)
}

// json is the swagger Gateway subtype of g; the lock is held.
func (g *fabGateway) json() map[string]any {
	body := map[string]any{"id": g.id, "type": g.kind}
	name := "emulated-gateway-" + g.id[:8]
	vnet := map[string]any{
		"subscriptionId":     "879b4ba0-ed17-4ff2-851e-4a2228e00b70",
		"resourceGroupName":  "emulated-rg",
		"virtualNetworkName": "emulated-vnet",
		"subnetName":         "gateways",
	}
	switch g.kind {
	case gwOnPremises:
		body["displayName"] = name
		body["publicKey"] = json.RawMessage(ciphertest.PublicKeyJSON(&g.members[0].key.PublicKey))
		body["version"] = fabricGatewayVersion
		body["numberOfMemberGateways"] = len(g.members)
		body["loadBalancingSetting"] = "Failover"
		body["allowCloudConnectionRefresh"] = false
		body["allowCustomConnectors"] = false
	case gwPersonal:
		body["publicKey"] = json.RawMessage(ciphertest.PublicKeyJSON(&g.members[0].key.PublicKey))
		body["version"] = fabricGatewayVersion
	case gwVirtualNetwork:
		body["displayName"] = name
		body["capacityId"] = "ed26b6f3-7bc5-44b0-9565-a8942619ef4c"
		body["virtualNetworkAzureResource"] = vnet
		body["inactivityMinutesBeforeSleep"] = 30
		body["numberOfMemberGateways"] = 1
	case gwStreamingVNet:
		body["displayName"] = name
		body["virtualNetworkAzureResource"] = vnet
	}
	return body
}

// serveMembers answers List Gateway Members of a cluster, then lets the
// members AddMemberAfterList queued for it join.
func (f *Fabric) serveMembers(w http.ResponseWriter, rt fabRoute) {
	f.mu.Lock()
	g := f.gateways[strings.ToLower(rt.gatewayID)]
	var list []map[string]any
	if g != nil && g.kind == gwOnPremises {
		for _, m := range g.members {
			list = append(list, map[string]any{
				"id":          m.id,
				"displayName": "emulated-member-" + m.id[:8],
				"publicKey":   json.RawMessage(ciphertest.PublicKeyJSON(&m.key.PublicKey)),
				"version":     fabricGatewayVersion,
				"enabled":     !m.disabled,
			})
		}
	}
	f.mu.Unlock()
	switch {
	case g == nil:
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested gateway was not found.")
		return
	case g.kind != gwOnPremises:
		fabricError(w, http.StatusBadRequest, FabricCodeUnsupportedGatewayType, "This operation is only supported for on-premises gateways.")
		return
	}
	fabricJSON(w, http.StatusOK, map[string]any{"value": list})
	f.mu.Lock()
	defer f.mu.Unlock()
	g.members = append(g.members, g.pending...)
	g.pending = nil
}
