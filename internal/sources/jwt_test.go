package sources

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

func jwtWith(payload string) secret.Secret {
	enc := base64.RawURLEncoding.EncodeToString
	return secret.FromString(enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".c2ln")
}

func TestJWTExpiry(t *testing.T) {
	tests := map[string]struct {
		token  secret.Secret
		want   time.Time
		wantOK bool
	}{
		"integer exp":  {token: jwtWith(`{"aud":"x","exp":1767225600}`), want: time.Unix(1767225600, 0), wantOK: true},
		"float exp":    {token: jwtWith(`{"exp":1767225600.5}`), want: time.Unix(1767225600, 5e8), wantOK: true},
		"padded":       {token: secret.FromString("e30." + base64.URLEncoding.EncodeToString([]byte(`{"exp":100}`)) + ".x"), want: time.Unix(100, 0), wantOK: true},
		"no exp":       {token: jwtWith(`{"aud":"x"}`)},
		"string exp":   {token: jwtWith(`{"exp":"soon"}`)},
		"zero exp":     {token: jwtWith(`{"exp":0}`)},
		"negative exp": {token: jwtWith(`{"exp":-5}`)},
		"huge exp":     {token: jwtWith(`{"exp":1e300}`)},
		"not json":     {token: jwtWith(`not json`)},
		"two parts":    {token: secret.FromString("a.b")},
		"JWE":          {token: secret.FromString("a.b.c.d.e")},
		"opaque":       {token: secret.FromString("sv=2022-11-02&sig=abc")},
		"bad base64":   {token: secret.FromString("a.!!!.c")},
		"empty":        {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := JWTExpiry(tc.token)
			if ok != tc.wantOK || !got.Equal(tc.want) {
				t.Errorf("JWTExpiry = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add([]byte(jwtWith(`{"exp":1767225600}`).RevealString()))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, token []byte) {
		exp, ok := JWTExpiry(secret.New(token))
		if ok && (exp.Unix() <= 0 || exp.Year() > 9999) {
			t.Errorf("JWTExpiry(%q) = %v, true; want a positive time before year 10000", token, exp)
		}
		if !ok && !exp.IsZero() {
			t.Errorf("JWTExpiry(%q) = %v, false; want the zero time with false", token, exp)
		}
	})
}

func TestJWTObjectID(t *testing.T) {
	tests := map[string]struct {
		token  secret.Secret
		want   string
		wantOK bool
	}{
		"oid":        {token: jwtWith(`{"oid":"3d9b93c6-7b6d-4801-a491-1738910904fd","exp":1}`), want: "3d9b93c6-7b6d-4801-a491-1738910904fd", wantOK: true},
		"no oid":     {token: jwtWith(`{"sub":"x"}`)},
		"number oid": {token: jwtWith(`{"oid":5}`)},
		"opaque":     {token: secret.FromString("opaque")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := JWTObjectID(tc.token)
			if got != tc.want && ok || ok != tc.wantOK {
				t.Errorf("JWTObjectID = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
