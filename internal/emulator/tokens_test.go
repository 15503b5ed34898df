package emulator

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestTokenIssuerVerify(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ti, err := NewTokenIssuer(clock.Now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewTokenIssuer(clock.Now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good, exp := ti.Issue("https://vault.azure.net", "app-1")
	if want := clock.t.Add(time.Hour); !exp.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", exp, want)
	}
	forged, _ := other.Issue("https://vault.azure.net", "app-1")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]

	tests := map[string]struct {
		token    string
		resource string
		advance  time.Duration
		want     error // nil: valid
	}{
		"valid":                 {token: good, resource: "https://vault.azure.net"},
		"valid, trailing slash": {token: good, resource: "https://vault.azure.net/"},
		"wrong audience":        {token: good, resource: "https://storage.azure.com", want: ErrWrongAudience},
		"expired":               {token: good, resource: "https://vault.azure.net", advance: time.Hour, want: ErrExpired},
		"other issuer's key":    {token: forged, resource: "https://vault.azure.net", want: ErrBadSignature},
		"tampered claims":       {token: tampered, resource: "https://vault.azure.net", want: ErrBadSignature},
		"not a JWT":             {token: "opaque", resource: "https://vault.azure.net", want: ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			saved := clock.t
			defer func() { clock.t = saved }()
			clock.t = clock.t.Add(tc.advance)
			err := ti.Verify(tc.token, tc.resource)
			if tc.want == nil && err != nil {
				t.Fatalf("Verify: %v, want nil", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}

	c, err := ti.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audience != "https://vault.azure.net" || c.AppID != "app-1" || c.TenantID != DefaultTenantID ||
		c.ObjectID == "" || c.IssuedAt != clock.t.Unix() || c.ExpiresAt != clock.t.Add(time.Hour).Unix() {
		t.Errorf("claims = %+v", c)
	}
}

func TestAuthorizerDenyAllow(t *testing.T) {
	ti, err := NewTokenIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	authz := ti.Authorizer("https://analysis.windows.net/powerbi/api")
	tok, _ := ti.Issue("https://analysis.windows.net/powerbi/api", "app-2")
	req := func(header string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		return r
	}
	if err := authz(req("")); !errors.Is(err, ErrNoToken) {
		t.Errorf("no header: %v, want ErrNoToken", err)
	}
	if err := authz(req("Basic abc")); !errors.Is(err, ErrNoToken) {
		t.Errorf("basic auth: %v, want ErrNoToken", err)
	}
	if err := authz(req("Bearer " + tok)); err != nil {
		t.Errorf("valid token: %v", err)
	}
	ti.Deny("app-2")
	if err := authz(req("Bearer " + tok)); !errors.Is(err, ErrDenied) {
		t.Errorf("denied app: %v, want ErrDenied", err)
	}
	ti.Allow("app-2")
	if err := authz(req("Bearer " + tok)); err != nil {
		t.Errorf("allowed again: %v", err)
	}
}

func TestNewTokenIssuerRejectsBadTTL(t *testing.T) {
	if _, err := NewTokenIssuer(nil, 0); err == nil {
		t.Error("NewTokenIssuer(ttl=0) succeeded")
	}
}
