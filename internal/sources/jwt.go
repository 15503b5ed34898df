package sources

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/rotatord/rotatord/internal/secret"
)

// JWTExpiry returns the exp claim of a JWT access token without verifying
// it: rotatord only needs to know when a token handed to it by another
// system stops working, and Power BI does the verifying. It reports false
// for anything that is not a JWS with a numeric exp of at least 1.
func JWTExpiry(token secret.Secret) (time.Time, bool) {
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if !jwtClaims(token, &claims) || claims.Exp == "" {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Float64()
	// Reject values time.Unix cannot represent sensibly (beyond year 9999).
	if err != nil || exp < 1 || math.IsInf(exp, 0) || exp > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(exp)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// JWTObjectID returns the oid claim of an Entra access token, unverified:
// the object id of the identity the token was issued to.
func JWTObjectID(token secret.Secret) (string, bool) {
	var claims struct {
		OID string `json:"oid"`
	}
	return claims.OID, jwtClaims(token, &claims) && claims.OID != ""
}

// jwtClaims decodes the payload of a JWS into claims, unverified.
func jwtClaims(token secret.Secret, claims any) bool {
	parts := bytes.Split(token.Reveal(), []byte("."))
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(string(parts[1]), "="))
	if err != nil {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	return d.Decode(claims) == nil
}

// Self returns a function that tells the object id of the identity cred
// signs in as, from the oid claim of a token for scope (azidentity caches
// it: asking costs nothing while it is fresh).
func Self(cred azcore.TokenCredential, scope string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		v, err := Token(ctx, cred, scope)
		if err != nil {
			return "", err
		}
		id, ok := JWTObjectID(v.Secret)
		if !ok {
			return "", errors.New("the access token names no object id (oid claim)")
		}
		return id, nil
	}
}
