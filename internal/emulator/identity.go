package emulator

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/rotatord/rotatord/internal/secret"
)

// Operation names of the Identity emulator, for Faults().Inject.
const (
	OpManagedIdentity = "ManagedIdentity"
	OpEntraToken      = "EntraToken"
)

// DefaultManagedClientID is the client ID of the emulated system-assigned
// managed identity, i.e. the appid of tokens asked for without client_id.
const DefaultManagedClientID = "5a5a5a5a-0000-4000-8000-00000000005a"

// IdentityOptions configures an Identity emulator.
type IdentityOptions struct {
	Tokens *TokenIssuer
	// Header is the IDENTITY_HEADER value managed-identity callers must send
	// as X-IDENTITY-HEADER.
	Header string
	// TenantID, if set, is the only tenant the Entra endpoints know.
	TenantID string
	// ManagedClientID is the system-assigned identity's client ID
	// (DefaultManagedClientID if empty).
	ManagedClientID string
}

// Identity emulates the two ways rotatord gets tokens: the App Service
// managed-identity endpoint (IDENTITY_ENDPOINT, any path not taken by the
// Entra routes) and an Entra ID authority (AuthorityHost = the server URL)
// serving tenant discovery and the client-credentials token endpoint for
// client secrets and workload-identity assertions.
type Identity struct {
	o      IdentityOptions
	faults Faults

	mu         sync.Mutex
	secrets    map[string]secret.Secret // client ID → client secret
	assertions map[string]secret.Secret // client ID → accepted federated assertion
	requests   []IdentityRequest
}

// IdentityRequest records one token request, for assertions in tests.
type IdentityRequest struct {
	Op       string // OpManagedIdentity or OpEntraToken ("" for discovery)
	Tenant   string // Entra only
	ClientID string
	Resource string // audience asked for
	Grant    string // "managed_identity", "client_secret" or "client_assertion"
	Status   int
}

// NewIdentity returns an Identity emulator; serve it with CA.Serve.
func NewIdentity(o IdentityOptions) *Identity {
	if o.ManagedClientID == "" {
		o.ManagedClientID = DefaultManagedClientID
	}
	return &Identity{o: o, secrets: map[string]secret.Secret{}, assertions: map[string]secret.Secret{}}
}

// AddApp registers an app registration that authenticates with a client secret.
func (id *Identity) AddApp(clientID string, clientSecret secret.Secret) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.secrets[clientID] = clientSecret
}

// AddFederatedApp registers an app that authenticates with a federated
// assertion (workload identity); assertion is the exact token file content
// the emulator will accept, standing in for Entra's issuer/subject match.
func (id *Identity) AddFederatedApp(clientID string, assertion secret.Secret) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.assertions[clientID] = assertion
}

// Faults returns the fault injector; operations are OpManagedIdentity and OpEntraToken.
func (id *Identity) Faults() *Faults { return &id.faults }

// Requests returns the token requests served so far.
func (id *Identity) Requests() []IdentityRequest {
	id.mu.Lock()
	defer id.mu.Unlock()
	return append([]IdentityRequest(nil), id.requests...)
}

func (id *Identity) record(r IdentityRequest) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.requests = append(id.requests, r)
}

// ServeHTTP routes Entra paths (/{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/token) and sends everything else to the managed-identity endpoint.
func (id *Identity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		id.serveDiscovery(w, r, parts[0])
	case len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		id.serveEntraToken(w, r, parts[0])
	default:
		id.serveManagedIdentity(w, r)
	}
}

func (id *Identity) knowsTenant(tenant string) bool {
	return id.o.TenantID == "" || tenant == id.o.TenantID
}

// serveDiscovery answers MSAL's tenant discovery. The issuer must share the
// authority's scheme, host and port, or MSAL refuses the authority.
func (id *Identity) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet {
		entraError(w, http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561: The endpoint only accepts GET requests.")
		return
	}
	if !id.knowsTenant(tenant) {
		entraError(w, http.StatusBadRequest, "invalid_tenant", "AADSTS90002: Tenant '"+tenant+"' not found.")
		return
	}
	base := "https://" + r.Host + "/" + tenant
	identityJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"tenant_region_scope":                   "EU",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
	})
}

func (id *Identity) serveEntraToken(w http.ResponseWriter, r *http.Request, tenant string) {
	rec := IdentityRequest{Op: OpEntraToken, Tenant: tenant}
	sw := &statusWriter{ResponseWriter: w}
	defer func() { rec.Status = sw.status; id.record(rec) }()
	w = sw

	if r.Method != http.MethodPost {
		entraError(w, http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
		return
	}
	if !id.knowsTenant(tenant) {
		entraError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant '"+tenant+"' not found.")
		return
	}
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be application/x-www-form-urlencoded.")
		return
	}
	rec.ClientID = r.PostForm.Get("client_id")
	rec.Resource = resourceFromScope(r.PostForm.Get("scope"))
	if id.faults.Apply(w, r, OpEntraToken, entraFaultError) {
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '"+gt+"'.")
		return
	}
	if rec.ClientID == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'client_id'.")
		return
	}
	if rec.Resource == "" {
		entraError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}

	id.mu.Lock()
	wantSecret, hasSecret := id.secrets[rec.ClientID]
	wantAssertion, hasAssertion := id.assertions[rec.ClientID]
	id.mu.Unlock()

	switch {
	case r.PostForm.Has("client_secret"):
		rec.Grant = "client_secret"
		if !hasSecret && !hasAssertion {
			entraError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+rec.ClientID+"' was not found in the directory '"+tenant+"'.")
			return
		}
		if !hasSecret || !equalSecret(wantSecret, r.PostForm.Get("client_secret")) {
			entraError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+rec.ClientID+"'.")
			return
		}
	case r.PostForm.Has("client_assertion"):
		rec.Grant = "client_assertion"
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			entraError(w, http.StatusBadRequest, "invalid_request", "AADSTS50027: Invalid client_assertion_type.")
			return
		}
		if !hasSecret && !hasAssertion {
			entraError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+rec.ClientID+"' was not found in the directory '"+tenant+"'.")
			return
		}
		if !hasAssertion || !equalSecret(wantAssertion, r.PostForm.Get("client_assertion")) {
			entraError(w, http.StatusBadRequest, "invalid_client", "AADSTS70021: No matching federated identity record found for presented assertion.")
			return
		}
	default:
		entraError(w, http.StatusBadRequest, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	token, exp := id.o.Tokens.issue(rec.Resource, rec.ClientID, tenant)
	lifetime := int(exp.Sub(id.o.Tokens.now()).Seconds())
	// No "scope" field: MSAL rejects any scope other than the exact one asked for.
	identityJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     lifetime,
		"ext_expires_in": lifetime,
		"access_token":   token,
	})
}

// serveManagedIdentity emulates the App Service managed-identity endpoint
// (api-version 2019-08-01) that azidentity uses when IDENTITY_ENDPOINT and
// IDENTITY_HEADER are set.
func (id *Identity) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rec := IdentityRequest{Op: OpManagedIdentity, Grant: "managed_identity", Resource: q.Get("resource"), ClientID: id.o.ManagedClientID}
	for _, k := range []string{"client_id", "object_id", "mi_res_id"} {
		if v := q.Get(k); v != "" {
			rec.ClientID = v
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() { rec.Status = sw.status; id.record(rec) }()
	w = sw

	if r.Method != http.MethodGet {
		miError(w, http.StatusMethodNotAllowed, "The managed identity endpoint only accepts GET.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(id.o.Header)) != 1 {
		miError(w, http.StatusUnauthorized, "X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER.")
		return
	}
	if v := q.Get("api-version"); v != "2019-08-01" {
		miError(w, http.StatusBadRequest, "Unsupported api-version '"+v+"'; expected 2019-08-01.")
		return
	}
	if rec.Resource == "" {
		miError(w, http.StatusBadRequest, "The resource query parameter is required.")
		return
	}
	if id.faults.Apply(w, r, OpManagedIdentity, miFaultError) {
		return
	}
	token, exp := id.o.Tokens.issue(rec.Resource, rec.ClientID, id.tenant())
	identityJSON(w, http.StatusOK, map[string]string{
		"access_token": token,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     rec.Resource,
		"token_type":   "Bearer",
		"client_id":    rec.ClientID,
	})
}

func (id *Identity) tenant() string {
	if id.o.TenantID != "" {
		return id.o.TenantID
	}
	return DefaultTenantID
}

// resourceFromScope turns "https://vault.azure.net/.default openid profile"
// into the audience "https://vault.azure.net".
func resourceFromScope(scope string) string {
	for _, s := range strings.Fields(scope) {
		if r, ok := strings.CutSuffix(s, "/.default"); ok {
			return r
		}
	}
	return ""
}

func equalSecret(want secret.Secret, got string) bool {
	return !want.IsZero() && subtle.ConstantTimeCompare(want.Reveal(), []byte(got)) == 1
}

func entraError(w http.ResponseWriter, status int, code, description string) {
	identityJSON(w, status, map[string]any{"error": code, "error_description": description})
}

func entraFaultError(w http.ResponseWriter, status int, code string) {
	if code == "" {
		code = "temporarily_unavailable"
	}
	entraError(w, status, code, "AADSTS50196: emulated fault with status "+strconv.Itoa(status)+".")
}

func miError(w http.ResponseWriter, status int, message string) {
	identityJSON(w, status, map[string]any{"statusCode": status, "message": message})
}

func miFaultError(w http.ResponseWriter, status int, code string) {
	miError(w, status, "emulated fault "+code)
}

func identityJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter remembers the status code written, for request records.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack lets the Drop fault close the connection under the wrapper.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}
