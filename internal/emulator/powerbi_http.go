package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// maxBody bounds request bodies; a credential is a few KB at most.
const maxBody = 1 << 20

// pbiRoute is a request matched to an operation.
type pbiRoute struct {
	op               string
	gatewayID, dsID  string
	groupID          string
	datasetID        string // a plain string in the swagger: one that is no UUID names no dataset
	user             string // the path parameter the swagger names emailAdress (sic)
	methodNotAllowed bool
}

// ServeHTTP serves the gateway and dataset operations under /v1.0/myorg/.
func (p *PowerBI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("RequestId", reqID)
	sw := &statusWriter{ResponseWriter: w}
	rt := routePowerBI(r)
	defer func() {
		// Deferred so that a dropped connection (a panic on HTTP/2) is recorded too.
		p.mu.Lock()
		p.requests = append(p.requests, RequestRecord{Method: r.Method, Path: r.URL.Path, Operation: rt.op, Status: sw.status})
		p.mu.Unlock()
		p.log.Debug("request", "method", r.Method, "path", r.URL.Path, "operation", rt.op, "status", sw.status, "request_id", reqID)
	}()
	switch {
	case rt.methodNotAllowed:
		pbiError(sw, http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '"+r.Method+"'.")
		return
	case rt.op == "":
		pbiError(sw, http.StatusNotFound, CodePowerBIEntityNotFound, "No route matches "+r.URL.Path)
		return
	}
	if !p.authorized(sw, r) {
		return
	}
	if p.faults.Apply(sw, r, rt.op, pbiFaultError) {
		return
	}
	for _, param := range [][2]string{{"gatewayId", rt.gatewayID}, {"datasourceId", rt.dsID}, {"groupId", rt.groupID}} {
		if name, id := param[0], param[1]; id != "" && !validUUID(id) {
			pbiError(sw, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("%s: %q is not a UUID", name, clip(id, 40)))
			return
		}
	}
	if rt.gatewayID != "" && p.isDenied(rt.gatewayID) {
		pbiError(sw, http.StatusForbidden, CodeNotAuthorized, "The caller is not an administrator of gateway "+rt.gatewayID+".")
		return
	}
	switch rt.op {
	case OpGetGateways:
		p.serveGateways(sw, r)
	case OpGetGateway:
		p.serveGateway(sw, rt)
	case OpGetDatasources:
		p.serveDatasources(sw, r, rt)
	case OpGetDatasource:
		p.serveDatasource(sw, rt)
	case OpUpdateDatasource:
		p.serveUpdate(sw, r, rt)
	case OpGetDatasourceUsers:
		p.serveUsers(sw, r, rt)
	case OpAddDatasourceUser:
		p.serveAddUser(sw, r, rt)
	case OpDeleteDatasourceUser:
		p.serveDeleteUser(sw, rt)
	case OpGetDatasourceStatus:
		p.serveStatus(sw, rt)
	case OpGetDatasetsInGroup:
		p.serveDatasets(sw, r, rt)
	case OpGetDatasourcesInGroup:
		p.serveDatasetSources(sw, r, rt)
	}
}

// routePowerBI matches the escaped path segment by segment, so that an
// email or object id containing "/" (escaped) stays one parameter.
func routePowerBI(r *http.Request) pbiRoute {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1.0/myorg/")
	if !ok {
		return pbiRoute{}
	}
	var seg []string
	for _, s := range strings.Split(strings.TrimSuffix(rest, "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return pbiRoute{}
		}
		seg = append(seg, u)
	}
	if len(seg) == 0 || seg[0] != "gateways" && seg[0] != "groups" {
		return pbiRoute{}
	}
	var rt pbiRoute
	var ops map[string]string // method → operation
	switch {
	case seg[0] == "groups" && len(seg) == 3 && seg[2] == "datasets":
		rt.groupID = seg[1]
		ops = map[string]string{http.MethodGet: OpGetDatasetsInGroup}
	case seg[0] == "groups" && len(seg) == 5 && seg[2] == "datasets" && seg[4] == "datasources":
		rt.groupID, rt.datasetID = seg[1], seg[3]
		ops = map[string]string{http.MethodGet: OpGetDatasourcesInGroup}
	case seg[0] == "groups":
		return pbiRoute{}
	case len(seg) == 1:
		ops = map[string]string{http.MethodGet: OpGetGateways}
	case len(seg) == 2:
		rt.gatewayID = seg[1]
		ops = map[string]string{http.MethodGet: OpGetGateway}
	case len(seg) == 3 && seg[2] == "datasources":
		rt.gatewayID = seg[1]
		ops = map[string]string{http.MethodGet: OpGetDatasources}
	case len(seg) == 4 && seg[2] == "datasources":
		rt.gatewayID, rt.dsID = seg[1], seg[3]
		ops = map[string]string{http.MethodGet: OpGetDatasource, http.MethodPatch: OpUpdateDatasource}
	case len(seg) == 5 && seg[2] == "datasources" && seg[4] == "users":
		rt.gatewayID, rt.dsID = seg[1], seg[3]
		ops = map[string]string{http.MethodGet: OpGetDatasourceUsers, http.MethodPost: OpAddDatasourceUser}
	case len(seg) == 5 && seg[2] == "datasources" && seg[4] == "status":
		rt.gatewayID, rt.dsID = seg[1], seg[3]
		ops = map[string]string{http.MethodGet: OpGetDatasourceStatus}
	case len(seg) == 6 && seg[2] == "datasources" && seg[4] == "users":
		rt.gatewayID, rt.dsID, rt.user = seg[1], seg[3], seg[5]
		ops = map[string]string{http.MethodDelete: OpDeleteDatasourceUser}
	default:
		return pbiRoute{}
	}
	rt.op = ops[r.Method]
	rt.methodNotAllowed = rt.op == ""
	return rt
}

func (p *PowerBI) isDenied(gatewayID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.denied[strings.ToLower(gatewayID)]
}

// authorized answers the request with 401/403 when it must not be served.
func (p *PowerBI) authorized(w http.ResponseWriter, r *http.Request) bool {
	switch err := checkAuth(p.authorize, r); {
	case err == nil:
		return true
	case errors.Is(err, ErrDenied):
		pbiError(w, http.StatusForbidden, CodeNotAuthorized, "")
	default:
		// Quoted parameters only: azcore's bearer policy parses this header
		// and must find no CAE claims in it.
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`)
		pbiError(w, http.StatusUnauthorized, CodeInvalidAuthenticationToken, "")
	}
	return false
}

func (p *PowerBI) serveGateways(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var list []map[string]any
	for _, g := range p.gateways {
		list = append(list, gatewayJSON(g))
	}
	p.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
	servePage(p, w, r, "https://api.powerbi.com/v1.0/myorg/$metadata#gateways", list)
}

func (p *PowerBI) serveGateway(w http.ResponseWriter, rt pbiRoute) {
	p.mu.Lock()
	g := p.gateways[strings.ToLower(rt.gatewayID)]
	var body map[string]any
	if g != nil {
		body = gatewayJSON(g)
	}
	p.mu.Unlock()
	if g == nil {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	}
	body["@odata.context"] = "https://api.powerbi.com/v1.0/myorg/$metadata#gateways/$entity"
	pbiJSON(w, body)
}

func gatewayJSON(g *pbiGateway) map[string]any {
	return map[string]any{
		"id":                g.id,
		"name":              "emulated-gateway-" + g.id[:8],
		"type":              "Resource",
		"publicKey":         json.RawMessage(ciphertest.PublicKeyJSON(&g.key.PublicKey)),
		"gatewayStatus":     "Live",
		"gatewayAnnotation": `{"gatewayContactInformation":["admin@contoso.com"],"gatewayVersion":"3000.0.0","gatewayMachine":"emulator"}`,
	}
}

func (p *PowerBI) serveDatasources(w http.ResponseWriter, r *http.Request, rt pbiRoute) {
	gk := strings.ToLower(rt.gatewayID)
	p.mu.Lock()
	found := p.gateways[gk] != nil
	var list []map[string]any
	for k, d := range p.datasources {
		if k.gateway == gk {
			list = append(list, datasourceJSON(d))
		}
	}
	p.mu.Unlock()
	if !found {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
	servePage(p, w, r, "https://api.powerbi.com/v1.0/myorg/$metadata#gatewayDatasources", list)
}

func (p *PowerBI) serveDatasource(w http.ResponseWriter, rt pbiRoute) {
	p.mu.Lock()
	d := p.datasources[keyOf(rt.gatewayID, rt.dsID)]
	var body map[string]any
	if d != nil {
		body = datasourceJSON(d)
	}
	p.mu.Unlock()
	if d == nil {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	}
	pbiJSON(w, body)
}

func datasourceJSON(d *pbiDatasource) map[string]any {
	info := d.described()
	return map[string]any{
		"id":                d.id,
		"gatewayId":         d.gatewayID,
		"datasourceName":    info.Name,
		"datasourceType":    info.Type,
		"connectionDetails": connectionJSON(info.ConnectionDetails),
		"credentialType":    d.credentialType,
		"credentialDetails": map[string]any{"useEndUserOAuth2Credentials": info.EndUserOAuth2},
	}
}

// described is d's DatasourceInfo with the defaults in its zero fields.
func (d *pbiDatasource) described() DatasourceInfo {
	info := d.info
	if info.Name == "" {
		info.Name = "emulated-" + d.id[:8]
	}
	switch {
	case info.Type != "":
	case d.cloud:
		info.Type = "AzureDataLakeStorage"
	default:
		info.Type = "Sql"
	}
	switch {
	case len(info.ConnectionDetails) > 0:
	case d.cloud:
		info.ConnectionDetails = map[string]string{"server": "https://emulated.dfs.core.windows.net", "path": "lake"}
	default:
		info.ConnectionDetails = map[string]string{"server": "emulated-sql.contoso.local", "database": "sales"}
	}
	return info
}

// connectionJSON is the connectionDetails string of a gateway data source:
// a JSON object listing the details in the swagger's order, as Power BI
// does ({"server":…,"database":…}).
func connectionJSON(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for _, k := range connectionKeys {
		v, ok := m[k]
		if !ok {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(v)
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.String()
}

// readBody reads and validates the body of op, answering 400 if it is bad.
func (p *PowerBI) readBody(w http.ResponseWriter, r *http.Request, op string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		pbiError(w, http.StatusBadRequest, CodeInvalidRequest, "request body could not be read")
		return nil, false
	}
	if err := p.spec.validate(op, body); err != nil {
		pbiError(w, http.StatusBadRequest, CodeInvalidRequest, err.Error())
		return nil, false
	}
	return body, true
}

func (p *PowerBI) serveUsers(w http.ResponseWriter, r *http.Request, rt pbiRoute) {
	p.mu.Lock()
	d := p.datasources[keyOf(rt.gatewayID, rt.dsID)]
	var users []User
	if d != nil {
		users = slices.Clone(d.users)
	}
	p.mu.Unlock()
	if d == nil {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	}
	servePage(p, w, r, "https://"+r.Host+"/v1.0/myorg/$metadata#datasourceUsers", users)
}

func (p *PowerBI) serveAddUser(w http.ResponseWriter, r *http.Request, rt pbiRoute) {
	body, ok := p.readBody(w, r, OpAddDatasourceUser)
	if !ok {
		return
	}
	var u User
	if err := json.Unmarshal(body, &u); err != nil {
		pbiError(w, http.StatusBadRequest, CodeInvalidRequest, "request body does not match DatasourceUser")
		return
	}
	if u.EmailAddress == "" && u.Identifier == "" {
		pbiError(w, http.StatusBadRequest, CodeInvalidRequest, "emailAddress or identifier: one is required")
		return
	}
	if u.PrincipalType == "" {
		u.PrincipalType = "User"
		if u.EmailAddress == "" {
			u.PrincipalType = "App"
		}
	}
	echo := p.faults.takeEcho(OpAddDatasourceUser)
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.datasources[keyOf(rt.gatewayID, rt.dsID)]
	if d == nil {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	}
	if echo {
		var fields map[string]string
		if n := len(d.history); n > 0 {
			fields = d.history[n-1].Fields
		}
		echoSecret(w, fields)
		return
	}
	if i := slices.IndexFunc(d.users, func(x User) bool { return sameUser(x, u) }); i >= 0 {
		d.users[i] = u // POST grants or updates
	} else {
		d.users = append(d.users, u)
	}
	w.WriteHeader(http.StatusOK)
}

func sameUser(a, b User) bool {
	return a.EmailAddress != "" && strings.EqualFold(a.EmailAddress, b.EmailAddress) ||
		a.Identifier != "" && strings.EqualFold(a.Identifier, b.Identifier)
}

func (p *PowerBI) serveDeleteUser(w http.ResponseWriter, rt pbiRoute) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.datasources[keyOf(rt.gatewayID, rt.dsID)]
	if d == nil {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	}
	i := slices.IndexFunc(d.users, func(x User) bool {
		return strings.EqualFold(x.EmailAddress, rt.user) || strings.EqualFold(x.Identifier, rt.user)
	})
	if i < 0 {
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "no such user on the data source")
		return
	}
	d.users = slices.Delete(d.users, i, i+1)
	w.WriteHeader(http.StatusOK)
}

// pbiErrorBody is Power BI's error shape.
type pbiErrorBody struct {
	Error pbiErrorInner `json:"error"`
}

type pbiErrorInner struct {
	Code    string      `json:"code"`
	Message string      `json:"message,omitempty"`
	PBI     pbiErrorPBI `json:"pbi.error"`
}

type pbiErrorPBI struct {
	Code             string            `json:"code"`
	Parameters       map[string]string `json:"parameters"`
	Details          []pbiErrorDetail  `json:"details"`
	ExceptionCulprit int               `json:"exceptionCulprit"`
}

type pbiErrorDetail struct {
	Code   string `json:"code"`
	Detail struct {
		Type  int    `json:"type"`
		Value string `json:"value"`
	} `json:"detail"`
}

// pbiError writes a Power BI error. message, if any, goes into error.message
// and the UnderlyingErrorMessage detail; it must never contain credentials,
// but for an EchoSecret fault's.
func pbiError(w http.ResponseWriter, status int, code, message string) {
	body := pbiErrorBody{Error: pbiErrorInner{Code: code, Message: message,
		PBI: pbiErrorPBI{Code: code, Parameters: map[string]string{}, Details: []pbiErrorDetail{}, ExceptionCulprit: 1}}}
	if message != "" {
		body.Error.PBI.Details = append(body.Error.PBI.Details, errorDetail("DM_ErrorDetailNameCode_UnderlyingErrorMessage", message))
	}
	writePBIError(w, status, body)
}

func writePBIError(w http.ResponseWriter, status int, body pbiErrorBody) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// pbiFaultError writes an injected fault. A 429 without a code gets the bare
// {"message"} body Power BI's throttling really sends.
func pbiFaultError(w http.ResponseWriter, status int, code string) {
	if status == http.StatusTooManyRequests && code == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "You have exceeded the amount of requests allowed in the current time frame and further requests will fail."})
		return
	}
	if code == "" {
		code = strings.ReplaceAll(http.StatusText(status), " ", "")
	}
	pbiError(w, status, code, "")
}

func pbiJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// servePage answers a list operation with items, which must be in a
// stable order, as the OData wrapper of the swagger's list types. With a
// PageSize it follows OData server-side paging: a page of at most PageSize
// items from where the request's $skiptoken points, and an @odata.nextLink
// to the rest, if any, on the host the request named.
func servePage[T any](p *PowerBI, w http.ResponseWriter, r *http.Request, odataContext string, items []T) {
	start := 0
	if q := r.URL.Query(); q.Has("$skiptoken") {
		var ok bool
		if start, ok = parseSkipToken(q.Get("$skiptoken"), r.URL.Path); !ok {
			pbiError(w, http.StatusBadRequest, CodeInvalidRequest, "$skiptoken: not a skip token of this list")
			return
		}
	}
	// A token past the end, after the list shrank, gets an empty last page.
	page := items[min(start, len(items)):]
	body := map[string]any{"@odata.context": odataContext}
	if n := int(p.pageSize.Load()); n > 0 && len(page) > n {
		page = page[:n]
		body["@odata.nextLink"] = "https://" + r.Host + r.URL.EscapedPath() + "?$skiptoken=" + skipToken(r.URL.Path, start+n)
	}
	if page == nil {
		page = []T{}
	}
	body["value"] = page
	pbiJSON(w, body)
}

// skipToken is the opaque $skiptoken of the page of the list at path that
// starts with item offset (> 0). The list's path is in it, so that a token
// cannot page another list.
func skipToken(path string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + " " + strings.ToLower(path)))
}

func parseSkipToken(token, path string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, false
	}
	n, p, ok := strings.Cut(string(b), " ")
	offset, err := strconv.Atoi(n)
	if !ok || err != nil || offset <= 0 || p != strings.ToLower(path) {
		return 0, false
	}
	return offset, true
}

// newRequestID returns a random UUID, as Power BI's RequestId header is.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
