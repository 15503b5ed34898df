// Package sources fetches the secret material rotatord pushes to Power BI —
// Key Vault secrets, Entra ID access tokens for OAuth2 data sources, files
// and environment variables — and builds rotatord's own Azure identity from
// the config's auth: block.
//
// Every value leaves the package as a secret.Secret inside a Value, with the
// Key Vault version and the expiry when known. Every failure is an *Error
// with a stable snake_case Reason (for metrics and logs), the resource that
// failed, and a hint for the operator. Error texts are built here from status
// codes and error codes only: Azure SDK errors echo response bodies, and a
// Key Vault secret response body is the secret.
package sources
