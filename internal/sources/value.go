package sources

import (
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

// Value is a fetched secret with what is known about its lifetime.
type Value struct {
	Secret    secret.Secret
	Version   string    // Key Vault version; empty for files, env and Entra tokens
	ExpiresAt time.Time // Key Vault exp attribute or token expiry; zero if unknown
}
