package sources

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/wire"
)

// DefaultTryTimeout bounds one Key Vault request; the service answers in
// milliseconds, so a minute means the connection is stuck.
const DefaultTryTimeout = time.Minute

// maxSecretBody bounds a Key Vault answer: a secret value is at most 25 KB,
// which JSON escaping may grow six times (\u00XX for a control byte),
// plus the envelope of id, attributes and up to 15 tags.
const maxSecretBody = 256 << 10

// KeyVaultOptions tune a KeyVault client.
type KeyVaultOptions struct {
	Transport policy.Transporter // nil in production
	// DisableChallengeResourceVerification lets a vault behind a private
	// endpoint with a custom domain answer a challenge for vault.azure.net.
	DisableChallengeResourceVerification bool
	MaxRetries                           int32         // azcore semantics: 0 is the default (3), negative disables retries
	RetryDelay                           time.Duration // base of the exponential backoff; 0 is azcore's 800ms
	TryTimeout                           time.Duration // one attempt's bound; 0 is DefaultTryTimeout
	// Clock judges exp and nbf; nil means clock.Real(). It should be the
	// daemon's one clock, so that a secret is expired for the Key Vault
	// check exactly when it is for everything else. (azcore's own retry
	// backoff sleeps on wall time: that is azcore's.)
	Clock clock.Clock
}

// KeyVault reads secrets from one vault. It holds one azsecrets client for
// its whole life: the client learns the vault's tenant and scope from the
// first 401 challenge, so a fresh client per read would pay an extra
// unauthenticated round-trip every time. Build one per vault and reuse it.
type KeyVault struct {
	url      string
	identity string
	client   *azsecrets.Client
	retry    policy.RetryOptions // the client's, which a tick's budget narrows per call
	clock    clock.Clock
}

// NewKeyVault returns a client for the vault at vaultURL
// (https://NAME.vault.azure.net/) authenticating with cred.
func NewKeyVault(vaultURL string, cred azcore.TokenCredential, o KeyVaultOptions) (*KeyVault, error) {
	u, err := url.Parse(vaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		// The bearer policy refuses plain HTTP anyway; say so up front.
		return nil, fmt.Errorf("key vault URL %q: must be https://HOST with no path", vaultURL)
	}
	if cred == nil {
		return nil, fmt.Errorf("key vault %s: no credential", vaultURL)
	}
	retry := policy.RetryOptions{MaxRetries: o.MaxRetries, RetryDelay: o.RetryDelay,
		// A hung connection must not hold a tick until shutdown.
		TryTimeout: cmp.Or(o.TryTimeout, DefaultTryTimeout)}
	client, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport:        wire.LimitBodies(o.Transport, maxSecretBody),
			PerRetryPolicies: []policy.Policy{wire.SpendBudget(), wire.CompleteBody(wire.Always)},
			Retry:            retry,
		},
		DisableChallengeResourceVerification: o.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, fmt.Errorf("key vault %s: %w", vaultURL, err)
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.Real()
	}
	return &KeyVault{url: strings.TrimSuffix(vaultURL, "/"), identity: describeCredential(cred), client: client, retry: retry, clock: clk}, nil
}

// URL returns the vault URL without a trailing slash.
func (kv *KeyVault) URL() string { return kv.url }

// What Get accepts as a secret name and version. The inventory check
// (internal/config) calls IsSecretName and IsSecretVersion too, so that
// `rotatord check` refuses exactly what every rotation would refuse.
var (
	// secretNamePattern is Key Vault's rule for secret names; it also keeps
	// "/" and ".." out of the request path.
	secretNamePattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	// versionPattern is a Key Vault version ID, the last segment of a
	// secret version's identifier.
	versionPattern = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
)

// The rules above in words, for messages.
const (
	SecretNameRule    = "1-127 letters, digits and '-'"
	SecretVersionRule = "32 hex digits"
)

// IsSecretName reports whether name is a Key Vault secret name (SecretNameRule).
func IsSecretName(name string) bool { return secretNamePattern.MatchString(name) }

// IsSecretVersion reports whether version is a Key Vault secret version ID
// (SecretVersionRule). "" is no version: it means the latest and is not one.
func IsSecretVersion(version string) bool { return versionPattern.MatchString(version) }

// Get reads secret name at version ("" for the latest). A secret whose exp
// has passed or whose nbf is ahead is refused even though Key Vault returns
// it: pushing a credential its owner marked invalid would break the data
// source later and silently.
func (kv *KeyVault) Get(ctx context.Context, name, version string) (Value, error) {
	resource := kv.url + "/secrets/" + name
	if version != "" {
		resource += "/" + version
	}
	fail := func(reason, hint string, err error) (Value, error) {
		return Value{}, &Error{Source: SourceKeyVault, Resource: resource, Reason: reason, Hint: hint, Err: err}
	}
	if !IsSecretName(name) {
		return fail(ReasonInvalid, "secret names are "+SecretNameRule, nil)
	}
	if version != "" && !IsSecretVersion(version) {
		return fail(ReasonInvalid, "versions are "+SecretVersionRule, nil)
	}

	// Within a tick, azsecrets' retries spend the tick's budget.
	resp, err := kv.client.GetSecret(wire.TickCall(ctx, kv.retry), name, version, nil)
	if err != nil {
		return Value{}, kv.classify(resource, name, version, err)
	}
	attrs := resp.Attributes
	if attrs == nil {
		attrs = &azsecrets.SecretAttributes{}
	}
	now := kv.clock.Now()
	switch {
	case resp.Value == nil || *resp.Value == "":
		return fail(ReasonEmpty, "the secret has no value", nil)
	case attrs.Enabled != nil && !*attrs.Enabled:
		return fail(ReasonDisabled, "enable the secret or pin an enabled version", nil)
	case attrs.Expires != nil && !now.Before(*attrs.Expires):
		return fail(ReasonExpired, "set a new version in "+kv.url+" or move its expiry date",
			fmt.Errorf("expired at %s", attrs.Expires.UTC().Format(time.RFC3339)))
	case attrs.NotBefore != nil && now.Before(*attrs.NotBefore):
		return fail(ReasonNotYetValid, "pin the previous version until then",
			fmt.Errorf("valid from %s", attrs.NotBefore.UTC().Format(time.RFC3339)))
	}
	v := Value{Secret: secret.FromString(*resp.Value)}
	if resp.ID != nil {
		v.Version = resp.ID.Version()
	}
	if attrs.Expires != nil {
		v.ExpiresAt = *attrs.Expires
	}
	return v, nil
}

// classify turns a GetSecret failure into an *Error. It reads the status and
// error codes of Key Vault's answer but never prints the SDK's error text,
// which quotes the response body.
func (kv *KeyVault) classify(resource, name, version string, err error) error {
	e := &Error{Source: SourceKeyVault, Resource: resource}
	var (
		tokenErr *Error
		re       *azcore.ResponseError
	)
	switch {
	case errors.As(err, &tokenErr):
		// rotatord's identity could not get a token for the vault.
		e.Reason, e.Hint = tokenErr.Reason, tokenErr.Hint
		if e.Reason == ReasonForbidden {
			e.Reason = ReasonUnauthorized
		}
		msg := "token for " + tokenErr.Resource
		if tokenErr.Err != nil {
			msg += ": " + tokenErr.Err.Error()
		}
		e.Err = &safeError{msg: msg, cause: tokenErr}
	case errors.As(err, &re):
		code := re.ErrorCode
		inner := innerErrorCode(re)
		if inner != "" {
			code += "/" + inner
		}
		e.Err = &safeError{msg: fmt.Sprintf("HTTP %d %s", re.StatusCode, code), cause: err}
		e.Reason = statusReason(re.StatusCode)
		switch {
		case re.StatusCode == 404 && version != "":
			e.Hint = fmt.Sprintf("check the secret name %q and version %s in vault %s", name, version, kv.url)
		case re.StatusCode == 404:
			e.Hint = fmt.Sprintf("check the secret name %q in vault %s", name, kv.url)
		case re.StatusCode == 403 && inner == "SecretDisabled":
			e.Reason = ReasonDisabled
			e.Hint = "enable the secret or pin an enabled version"
		case re.StatusCode == 403:
			e.Hint = fmt.Sprintf("grant %s the 'Key Vault Secrets User' role on %s", kv.identity, kv.url)
		case re.StatusCode == 401:
			e.Hint = fmt.Sprintf("the vault rejected the token of %s; is the identity in the vault's tenant?", kv.identity)
		default:
			e.Hint = transportHint(e.Reason, kv.url)
		}
	default:
		e.Err = &safeError{msg: scrub(err.Error()), cause: err}
		e.Reason = transportReason(err)
		switch {
		case e.Reason != "":
			e.Hint = transportHint(e.Reason, kv.url)
		case strings.Contains(err.Error(), "doesn't match the requested domain"):
			e.Reason = ReasonChallengeMismatch
			e.Hint = "the vault's challenge names another resource; for a private endpoint with a custom domain disable challenge resource verification"
		default:
			e.Reason = ReasonFailed
		}
	}
	return e
}

// innerErrorCode reads error.innererror.code of a Key Vault error body,
// e.g. SecretDisabled; error bodies carry no secret values.
func innerErrorCode(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var b struct {
		Error struct {
			Inner struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil || !errorCodePattern.MatchString(b.Error.Inner.Code) {
		return ""
	}
	return b.Error.Inner.Code
}

// errorCodePattern admits Azure error codes such as SecretDisabled.
var errorCodePattern = regexp.MustCompile(`^[A-Za-z0-9_.]{1,64}$`)
