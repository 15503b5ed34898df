package sources

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

// JWTExpiry returns the exp claim of a JWT access token without verifying
// it: rotatord only needs to know when a token handed to it by another
// system stops working, and Power BI does the verifying. It reports false
// for anything that is not a JWS with a numeric exp of at least 1.
func JWTExpiry(token secret.Secret) (time.Time, bool) {
	parts := bytes.Split(token.Reveal(), []byte("."))
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(string(parts[1]), "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil || claims.Exp == "" {
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
