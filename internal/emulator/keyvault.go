package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

// Operation names of the Key Vault emulator, for Faults().Inject.
const (
	OpGetSecret          = "GetSecret"
	OpSetSecret          = "SetSecret"
	OpListSecrets        = "ListSecrets"
	OpListSecretVersions = "ListSecretVersions"
)

// VaultResource is the challenge resource of the public-cloud Key Vault.
const VaultResource = "https://vault.azure.net"

// KeyVaultOptions configures a KeyVault emulator.
type KeyVaultOptions struct {
	// Authorize checks a request's credentials; an error wrapping ErrDenied
	// answers 403, any other error 401 with a challenge. Typically
	// TokenIssuer.Authorizer(ChallengeResource). Nil accepts any bearer token.
	Authorize func(r *http.Request) error
	// TenantID goes into the challenge's authorization URL (DefaultTenantID if
	// empty); service-principal credentials only follow their own tenant.
	TenantID string
	// ChallengeResource is the resource named in the 401 challenge
	// (VaultResource if empty); see LoopbackChallengeResource.
	ChallengeResource string
	// Now stamps created/updated attributes (time.Now if nil).
	Now func() time.Time
}

// KeyVault emulates the Key Vault secrets data plane at the server root, as
// azsecrets expects: GET /secrets/{name}/ (latest), GET /secrets/{name}/{version},
// PUT /secrets/{name}, GET /secrets and GET /secrets/{name}/versions, all
// behind Key Vault's challenge-based bearer authentication.
type KeyVault struct {
	o      KeyVaultOptions
	faults Faults

	mu       sync.Mutex
	secrets  map[string][]*kvVersion // name → versions, oldest first
	requests []KeyVaultRequest
}

type kvVersion struct {
	version     string
	value       secret.Secret
	enabled     bool
	expires     time.Time
	notBefore   time.Time
	contentType string
	created     time.Time
	updated     time.Time
}

// SecretAttributes are the settable attributes of a secret version.
type SecretAttributes struct {
	Disabled    bool
	Expires     time.Time // zero: never
	NotBefore   time.Time // zero: always
	ContentType string
}

// KeyVaultRequest records one request to the emulator, for assertions in tests.
type KeyVaultRequest struct {
	Method     string
	Path       string
	Authorized bool // the request carried an Authorization header
	Status     int
}

// NewKeyVault returns an empty vault; serve it with CA.Serve.
func NewKeyVault(o KeyVaultOptions) *KeyVault {
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	if o.ChallengeResource == "" {
		o.ChallengeResource = VaultResource
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &KeyVault{o: o, secrets: map[string][]*kvVersion{}}
}

// LoopbackChallengeResource returns the challenge resource that lets a vault
// at serverURL (https://127.0.0.1:PORT) pass azsecrets' challenge-resource
// verification. The SDK accepts a challenge only if the vault's host:port
// ends with "." + the resource's host:port; "127.0.0.1:PORT" ends with
// ".0.0.1:PORT", so the resource "https://0.0.1:PORT" passes and clients can
// keep the verification on. Tokens are then asked for that audience.
func LoopbackChallengeResource(serverURL string) string {
	host := strings.TrimPrefix(serverURL, "https://")
	host = strings.TrimSuffix(host, "/")
	if _, rest, ok := strings.Cut(host, "."); ok {
		return "https://" + rest
	}
	return "https://" + host
}

// Faults returns the fault injector. Faults hit requests that passed
// authentication, so the unauthenticated challenge round-trip is never
// consumed by them. Operations: OpGetSecret, OpSetSecret, OpListSecrets,
// OpListSecretVersions.
func (kv *KeyVault) Faults() *Faults { return &kv.faults }

// SetSecret adds a new version of name and returns its version ID.
func (kv *KeyVault) SetSecret(name string, value secret.Secret, a SecretAttributes) (version string) {
	now := kv.o.Now().Truncate(time.Second)
	v := &kvVersion{
		version:     newVersionID(),
		value:       value,
		enabled:     !a.Disabled,
		expires:     a.Expires,
		notBefore:   a.NotBefore,
		contentType: a.ContentType,
		created:     now,
		updated:     now,
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.secrets[name] = append(kv.secrets[name], v)
	return v.version
}

// DisableSecret disables the latest version of name, if any.
func (kv *KeyVault) DisableSecret(name string) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if vs := kv.secrets[name]; len(vs) > 0 {
		vs[len(vs)-1].enabled = false
		vs[len(vs)-1].updated = kv.o.Now().Truncate(time.Second)
	}
}

// Requests returns every request served so far.
func (kv *KeyVault) Requests() []KeyVaultRequest {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return append([]KeyVaultRequest(nil), kv.requests...)
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// ServeHTTP implements http.Handler.
func (kv *KeyVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		kv.mu.Lock()
		kv.requests = append(kv.requests, KeyVaultRequest{
			Method: r.Method, Path: r.URL.Path, Authorized: r.Header.Get("Authorization") != "", Status: sw.status,
		})
		kv.mu.Unlock()
	}()
	w = sw

	if !kv.authorized(w, r) {
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request URI must contain an api-version query parameter.", "")
		return
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if seg[0] != "secrets" || len(seg) > 3 || (len(seg) > 1 && seg[1] == "") {
		kvError(w, http.StatusNotFound, "NotFound", "The requested path is not served by this emulator.", "")
		return
	}
	switch {
	case len(seg) == 1 && r.Method == http.MethodGet:
		kv.serveList(w, r)
	case len(seg) == 2 && r.Method == http.MethodPut:
		kv.servePut(w, r, seg[1])
	case len(seg) == 3 && seg[2] == "versions" && r.Method == http.MethodGet:
		kv.serveVersions(w, r, seg[1])
	case r.Method == http.MethodGet:
		version := ""
		if len(seg) == 3 {
			version = seg[2] // "" for the latest: azsecrets sends /secrets/{name}/
		}
		kv.serveGet(w, r, seg[1], version)
	default:
		kvError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The method "+r.Method+" is not allowed on this path.", "")
	}
}

// authorized runs the challenge protocol and answers the request when it
// must not be served.
func (kv *KeyVault) authorized(w http.ResponseWriter, r *http.Request) bool {
	switch err := checkAuth(kv.o.Authorize, r); {
	case err == nil:
		return true
	case errors.Is(err, ErrDenied):
		kvError(w, http.StatusForbidden, "Forbidden",
			"The user, group or application does not have secrets get permission on this key vault.", "AccessDenied")
	default:
		// The space after the comma and the tenant path segment are both
		// load-bearing: azsecrets splits on single spaces and indexes the
		// authorization URL's fourth "/" field (it panics without it).
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+kv.o.TenantID+`", resource="`+kv.o.ChallengeResource+`"`)
		msg := "AKV10000: Request is missing a Bearer or PoP token."
		if !errors.Is(err, ErrNoToken) {
			msg = "AKV10022: Invalid token: " + err.Error()
		}
		kvError(w, http.StatusUnauthorized, "Unauthorized", msg, "")
	}
	return false
}

func (kv *KeyVault) serveGet(w http.ResponseWriter, r *http.Request, name, version string) {
	if kv.faults.Apply(w, r, OpGetSecret, kvFaultError) {
		return
	}
	kv.mu.Lock()
	v := kv.find(name, version)
	var bundle map[string]any
	if v != nil && v.enabled {
		bundle = v.bundle(vaultBase(r), name, true)
	}
	kv.mu.Unlock()
	switch {
	case v == nil:
		id := name
		if version != "" {
			id += "/" + version
		}
		kvError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+id+" was not found in this key vault.", "")
	case bundle == nil:
		kvError(w, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
	default:
		// Like the real service, an expired or not-yet-valid secret is still
		// returned: exp and nbf are informational, enforcing them is the
		// client's business.
		kvJSON(w, http.StatusOK, bundle)
	}
}

// find returns a version of name, the latest for version "". kv.mu must be held.
func (kv *KeyVault) find(name, version string) *kvVersion {
	vs := kv.secrets[name]
	if version == "" {
		if len(vs) == 0 {
			return nil
		}
		return vs[len(vs)-1]
	}
	for _, v := range vs {
		if v.version == version {
			return v
		}
	}
	return nil
}

func (kv *KeyVault) servePut(w http.ResponseWriter, r *http.Request, name string) {
	if kv.faults.Apply(w, r, OpSetSecret, kvFaultError) {
		return
	}
	var body struct {
		Value       *string `json:"value"`
		ContentType string  `json:"contentType"`
		Attributes  struct {
			Enabled *bool  `json:"enabled"`
			Exp     *int64 `json:"exp"`
			Nbf     *int64 `json:"nbf"`
		} `json:"attributes"`
	}
	// 25 KB is Key Vault's limit on a secret value; the rest is headroom.
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil || body.Value == nil {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request body must be a JSON object with a value.", "")
		return
	}
	a := SecretAttributes{ContentType: body.ContentType}
	if e := body.Attributes.Enabled; e != nil && !*e {
		a.Disabled = true
	}
	if body.Attributes.Exp != nil {
		a.Expires = time.Unix(*body.Attributes.Exp, 0)
	}
	if body.Attributes.Nbf != nil {
		a.NotBefore = time.Unix(*body.Attributes.Nbf, 0)
	}
	version := kv.SetSecret(name, secret.FromString(*body.Value), a)
	kv.mu.Lock()
	bundle := kv.find(name, version).bundle(vaultBase(r), name, true)
	kv.mu.Unlock()
	kvJSON(w, http.StatusOK, bundle)
}

func (kv *KeyVault) serveList(w http.ResponseWriter, r *http.Request) {
	if kv.faults.Apply(w, r, OpListSecrets, kvFaultError) {
		return
	}
	kv.mu.Lock()
	names := make([]string, 0, len(kv.secrets))
	for n := range kv.secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	items := make([]map[string]any, 0, len(names))
	for _, n := range names {
		vs := kv.secrets[n]
		item := vs[len(vs)-1].bundle(vaultBase(r), n, false)
		item["id"] = vaultBase(r) + "/secrets/" + n // list items carry no version
		items = append(items, item)
	}
	kv.mu.Unlock()
	kvJSON(w, http.StatusOK, map[string]any{"value": items, "nextLink": nil})
}

func (kv *KeyVault) serveVersions(w http.ResponseWriter, r *http.Request, name string) {
	if kv.faults.Apply(w, r, OpListSecretVersions, kvFaultError) {
		return
	}
	kv.mu.Lock()
	vs := kv.secrets[name]
	items := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		items = append(items, v.bundle(vaultBase(r), name, false))
	}
	kv.mu.Unlock()
	kvJSON(w, http.StatusOK, map[string]any{"value": items, "nextLink": nil})
}

// bundle renders a version as Key Vault's secret bundle; times are integer
// Unix seconds, which is what azsecrets decodes.
func (v *kvVersion) bundle(base, name string, withValue bool) map[string]any {
	attrs := map[string]any{
		"enabled":         v.enabled,
		"created":         v.created.Unix(),
		"updated":         v.updated.Unix(),
		"recoveryLevel":   "Recoverable+Purgeable",
		"recoverableDays": 90,
	}
	if !v.expires.IsZero() {
		attrs["exp"] = v.expires.Unix()
	}
	if !v.notBefore.IsZero() {
		attrs["nbf"] = v.notBefore.Unix()
	}
	b := map[string]any{
		"id":         base + "/secrets/" + name + "/" + v.version,
		"attributes": attrs,
		"tags":       map[string]string{},
	}
	if v.contentType != "" {
		b["contentType"] = v.contentType
	}
	if withValue {
		b["value"] = v.value.RevealString()
	}
	return b
}

func vaultBase(r *http.Request) string { return "https://" + r.Host }

func kvError(w http.ResponseWriter, status int, code, message, inner string) {
	e := map[string]any{"code": code, "message": message}
	if inner != "" {
		e["innererror"] = map[string]string{"code": inner}
	}
	kvJSON(w, status, map[string]any{"error": e})
}

func kvFaultError(w http.ResponseWriter, status int, code string) {
	if code == "" {
		code = http.StatusText(status)
		if status == http.StatusTooManyRequests {
			code = "Throttled"
		}
	}
	kvError(w, status, code, "Emulated fault.", "")
}

func kvJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
