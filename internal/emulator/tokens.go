package emulator

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultTenantID is the tenant put in tokens when no tenant is given.
const DefaultTenantID = "00000000-0000-0000-0000-0000000000aa"

// Errors returned by TokenIssuer.Verify and Authorizer. Emulated services
// answer ErrDenied with 403 and every other error with 401.
var (
	ErrNoToken       = errors.New("no bearer token")
	ErrBadSignature  = errors.New("token signature is invalid")
	ErrMalformed     = errors.New("token is not a JWT")
	ErrExpired       = errors.New("token has expired")
	ErrWrongAudience = errors.New("token audience does not match")
	ErrDenied        = errors.New("identity has no permission")
)

// TokenIssuer mints JWT-shaped access tokens signed with HS256 under a
// random in-memory key, so emulated services can tell their own tokens
// from forged, expired or misdirected ones like Entra-issued tokens would.
type TokenIssuer struct {
	key []byte
	now func() time.Time
	ttl time.Duration

	mu     sync.Mutex
	denied map[string]bool
}

// Claims are the claims of an issued token.
type Claims struct {
	Audience  string `json:"aud"`
	Issuer    string `json:"iss"`
	TenantID  string `json:"tid"`
	ObjectID  string `json:"oid"`
	AppID     string `json:"appid"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	ExpiresAt int64  `json:"exp"`
}

// NewTokenIssuer returns an issuer whose tokens live for ttl as seen by now.
func NewTokenIssuer(now func() time.Time, ttl time.Duration) (*TokenIssuer, error) {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("emulator tokens: ttl must be positive, got %s", ttl)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("emulator tokens: generate signing key: %w", err)
	}
	return &TokenIssuer{key: key, now: now, ttl: ttl, denied: map[string]bool{}}, nil
}

// Issue mints a token for resource (the audience, without "/.default") on
// behalf of clientID in DefaultTenantID.
func (ti *TokenIssuer) Issue(resource, clientID string) (token string, expiresAt time.Time) {
	return ti.issue(resource, clientID, DefaultTenantID)
}

func (ti *TokenIssuer) issue(resource, clientID, tenantID string) (string, time.Time) {
	now := ti.now()
	exp := now.Add(ti.ttl)
	c := Claims{
		Audience:  resource,
		Issuer:    "https://sts.windows.net/" + tenantID + "/",
		TenantID:  tenantID,
		ObjectID:  objectID(clientID),
		AppID:     clientID,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: exp.Unix(),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("emulator tokens: marshal claims: %v", err)) // plain struct of strings and ints
	}
	signingInput := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signingInput + "." + ti.sign(signingInput), time.Unix(exp.Unix(), 0)
}

// jwtHeader is {"alg":"HS256","typ":"JWT"} in base64url.
const jwtHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

func (ti *TokenIssuer) sign(signingInput string) string {
	m := hmac.New(sha256.New, ti.key)
	m.Write([]byte(signingInput))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// objectID derives a stable GUID-shaped object ID from a client ID, so one
// identity keeps one oid across tokens.
func objectID(clientID string) string {
	h := sha256.Sum256([]byte("oid:" + clientID))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Parse checks token's signature and returns its claims, without looking at
// time or audience.
func (ti *TokenIssuer) Parse(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, ErrMalformed
	}
	want := ti.sign(parts[0] + "." + parts[1])
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
		return Claims{}, ErrBadSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return c, nil
}

// Verify checks that token was issued by ti, is not expired and is meant for
// resource. Errors wrap ErrMalformed, ErrBadSignature, ErrExpired or
// ErrWrongAudience.
func (ti *TokenIssuer) Verify(token, resource string) error {
	_, err := ti.verify(token, resource)
	return err
}

func (ti *TokenIssuer) verify(token, resource string) (Claims, error) {
	c, err := ti.Parse(token)
	if err != nil {
		return Claims{}, err
	}
	if !ti.now().Before(time.Unix(c.ExpiresAt, 0)) {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	if strings.TrimSuffix(c.Audience, "/") != strings.TrimSuffix(resource, "/") {
		return Claims{}, fmt.Errorf("%w: got %q, want %q", ErrWrongAudience, c.Audience, resource)
	}
	return c, nil
}

// Authorizer returns a check of the request's "Authorization: Bearer" token
// for resource. Errors wrap ErrNoToken, the Verify errors, or ErrDenied for
// a valid token of an identity passed to Deny.
func (ti *TokenIssuer) Authorizer(resource string) func(r *http.Request) error {
	return func(r *http.Request) error {
		token, ok := bearer(r)
		if !ok {
			return ErrNoToken
		}
		c, err := ti.verify(token, resource)
		if err != nil {
			return err
		}
		if ti.isDenied(c.AppID) {
			return fmt.Errorf("%w: app %s on %s", ErrDenied, c.AppID, resource)
		}
		return nil
	}
}

// Deny makes Authorizer refuse valid tokens of clientID with ErrDenied,
// like an identity lacking a role assignment.
func (ti *TokenIssuer) Deny(clientID string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.denied[clientID] = true
}

// Allow undoes Deny.
func (ti *TokenIssuer) Allow(clientID string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	delete(ti.denied, clientID)
}

func (ti *TokenIssuer) isDenied(clientID string) bool {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.denied[clientID]
}

// bearer returns the request's non-empty bearer token.
func bearer(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return token, ok && token != ""
}

// checkAuth runs an emulator's Authorize hook on r or, without one, only
// requires a bearer token: every emulated service decides alike.
func checkAuth(authorize func(*http.Request) error, r *http.Request) error {
	if authorize != nil {
		return authorize(r)
	}
	if _, ok := bearer(r); !ok {
		return ErrNoToken
	}
	return nil
}
