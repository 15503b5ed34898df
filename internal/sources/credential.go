package sources

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/rotatord/rotatord/internal/safefile"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/wire"
)

// AuthMethod is how rotatord gets its own identity: the config's
// auth.method, which accepts exactly AuthMethods.
type AuthMethod string

// The methods NewCredential builds.
const (
	MethodDefault          AuthMethod = "default"
	MethodManagedIdentity  AuthMethod = "managed_identity"
	MethodWorkloadIdentity AuthMethod = "workload_identity"
	MethodClientSecret     AuthMethod = "client_secret"
	MethodAzureCLI         AuthMethod = "azure_cli"
)

// AuthMethods returns every method, in the order the documentation lists them.
func AuthMethods() []AuthMethod {
	return []AuthMethod{MethodDefault, MethodManagedIdentity, MethodWorkloadIdentity, MethodClientSecret, MethodAzureCLI}
}

// Reads reports whether method m uses the auth option named option, as the
// config spells it: tenant_id, client_id or client_secret_file. The config
// refuses an option its method does not read: NewCredential would ignore
// it or, like client_id with default, refuse it.
func (m AuthMethod) Reads(option string) bool {
	switch option {
	case "tenant_id":
		return m != MethodManagedIdentity
	case "client_id":
		return m == MethodManagedIdentity || m == MethodWorkloadIdentity || m == MethodClientSecret
	case "client_secret_file":
		return m == MethodClientSecret
	}
	return false
}

// AuthOptions describe rotatord's own identity, from the config's auth: block.
type AuthOptions struct {
	Method           AuthMethod // "" means MethodDefault
	TenantID         string     // client_secret, workload_identity (default: $AZURE_TENANT_ID); default, azure_cli optional
	ClientID         string     // managed_identity: user-assigned identity; client_secret, workload_identity: app (client) ID
	ClientSecretFile string     // client_secret: file holding the secret (see ReadFile)
	AuthorityHost    string     // Entra authority for sovereign clouds; "" is the public cloud
	// FederatedTokenFile is the workload_identity assertion file; "" means
	// $AZURE_FEDERATED_TOKEN_FILE as set by the AKS workload identity webhook.
	FederatedTokenFile string
	Transport          policy.Transporter // nil in production; tests pass an emulator client
}

// maxTokenBody bounds an answer of Entra ID or a managed identity endpoint:
// a token response, or Entra's discovery metadata, is a few KB.
const maxTokenBody = 64 << 10

// NewCredential builds the credential for o. When AuthorityHost is set,
// Entra instance discovery is turned off: it would ask
// login.microsoftonline.com to vouch for the host, which fails for private
// and disconnected clouds, and the configured host is trusted by definition.
func NewCredential(o AuthOptions) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Transport: wire.LimitBodies(o.Transport, maxTokenBody), PerRetryPolicies: []policy.Policy{wire.CompleteBody(wire.Always)}}
	if o.AuthorityHost != "" {
		u, err := url.Parse(o.AuthorityHost)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("auth.authority_host %q: must be an https URL", o.AuthorityHost)
		}
		co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: o.AuthorityHost}
	}
	noDiscovery := o.AuthorityHost != ""
	method := o.Method
	if method == "" {
		method = MethodDefault
	}

	var (
		cred azcore.TokenCredential
		desc string
		err  error
	)
	switch method {
	case MethodDefault:
		if o.ClientID != "" {
			// DefaultAzureCredential only takes a client ID from $AZURE_CLIENT_ID;
			// silently ignoring auth.client_id would authenticate as another identity.
			return nil, errors.New("auth.client_id is not used by method default: set AZURE_CLIENT_ID, or choose managed_identity or workload_identity")
		}
		desc = "DefaultAzureCredential"
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: co, TenantID: o.TenantID, DisableInstanceDiscovery: noDiscovery,
		})
	case MethodManagedIdentity:
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		desc = "system-assigned managed identity"
		if o.ClientID != "" {
			mo.ID = azidentity.ClientID(o.ClientID)
			desc = "managed identity " + o.ClientID
		}
		cred, err = azidentity.NewManagedIdentityCredential(mo)
	case MethodWorkloadIdentity:
		desc = describeApp("workload identity", o)
		cred, err = workloadIdentity(o, co, noDiscovery)
	case MethodClientSecret:
		if o.TenantID == "" || o.ClientID == "" || o.ClientSecretFile == "" {
			return nil, errors.New("auth.method client_secret needs tenant_id, client_id and client_secret_file")
		}
		desc = describeApp("app", o)
		// Startup, not a tick: no context to hand. A FIFO or a device is
		// refused before any read, and at most 64 KiB is read.
		v, ferr := ReadFile(context.Background(), o.ClientSecretFile)
		if ferr != nil {
			return nil, fmt.Errorf("auth.client_secret_file: %w", ferr)
		}
		cred, err = azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, v.Secret.RevealString(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
	case MethodAzureCLI:
		desc = "Azure CLI login"
		cred, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: o.TenantID})
	default:
		return nil, fmt.Errorf("auth.method %q: must be one of %s", o.Method, joinMethods(AuthMethods()))
	}
	if err != nil {
		// Constructor errors are configuration messages (missing IDs, bad
		// tenant format) and carry no secrets.
		return nil, fmt.Errorf("auth.method %s: %w", method, err)
	}
	return &identity{cred: cred, desc: desc}, nil
}

// maxAssertion bounds the federated token file: a Kubernetes service
// account token is a JWT of one or two KB.
const maxAssertion = 64 << 10

// workloadIdentity is azidentity's WorkloadIdentityCredential, settings and
// environment alike, but for how it reads the token file, which it does with
// os.ReadFile at every token refresh: a FIFO put there would hang it, a
// link to /dev/zero fill memory. Here each read goes through safefile,
// capped and with the token request's context. The file's mode is not
// checked: kubelet writes it, and it is no secret of rotatord's choosing.
func workloadIdentity(o AuthOptions, co azcore.ClientOptions, noDiscovery bool) (azcore.TokenCredential, error) {
	tenant, client, file := cmp.Or(o.TenantID, os.Getenv("AZURE_TENANT_ID")),
		cmp.Or(o.ClientID, os.Getenv("AZURE_CLIENT_ID")), cmp.Or(o.FederatedTokenFile, os.Getenv("AZURE_FEDERATED_TOKEN_FILE"))
	if tenant == "" || client == "" || file == "" {
		return nil, errors.New("needs tenant_id, client_id and a token file: set them, or the AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE the workload identity webhook sets")
	}
	assertion := func(ctx context.Context) (string, error) {
		b, err := safefile.ReadFile(ctx, file, safefile.Rules{MaxSize: maxAssertion})
		if err != nil {
			return "", fmt.Errorf("federated token file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return azidentity.NewClientAssertionCredential(tenant, client, assertion,
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: noDiscovery})
}

// joinMethods lists methods for messages: "default, managed_identity".
func joinMethods(ms []AuthMethod) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

func describeApp(kind string, o AuthOptions) string {
	s := kind
	if o.ClientID != "" {
		s += " " + o.ClientID
	}
	if o.TenantID != "" {
		s += " in tenant " + o.TenantID
	}
	return s
}

// identity is rotatord's credential: it turns token failures into *Error
// naming the identity, so a Key Vault or Power BI failure says who failed.
type identity struct {
	cred azcore.TokenCredential
	desc string
}

// String describes the identity for messages, e.g. "app X in tenant T".
func (c *identity) String() string { return c.desc }

// GetToken implements azcore.TokenCredential.
func (c *identity) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	ctx, refused := wire.NoteRefusals(ctx)
	tk, err := c.cred.GetToken(ctx, o)
	if err != nil {
		if r := refused(); r != nil {
			// MSAL turned it into text; report the refusal itself.
			err = r
		}
		return tk, tokenError(strings.Join(o.Scopes, " "), c.desc, err)
	}
	return tk, nil
}

// Token gets an access token for scope (e.g. "https://storage.azure.com/.default")
// with cred, for an OAuth2 data source. Value.ExpiresAt is the token's expiry.
func Token(ctx context.Context, cred azcore.TokenCredential, scope string) (Value, error) {
	tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Value{}, err
		}
		return Value{}, tokenError(scope, describeCredential(cred), err)
	}
	if tk.Token == "" {
		return Value{}, &Error{Source: SourceEntra, Resource: scope, Reason: ReasonEmpty, Err: errors.New("token response had no access token")}
	}
	return Value{Secret: secret.FromString(tk.Token), ExpiresAt: tk.ExpiresOn}, nil
}

func describeCredential(cred azcore.TokenCredential) string {
	if s, ok := cred.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", cred), "*")
}

// aadstsPattern finds Entra's error number, e.g. AADSTS7000215 (invalid secret).
var aadstsPattern = regexp.MustCompile(`AADSTS\d+`)

// tokenError classifies a failure to get a token for scope as desc.
func tokenError(scope, desc string, err error) *Error {
	e := &Error{Source: SourceEntra, Resource: scope, Reason: ReasonUnauthorized}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		// Compose from status and Entra's error code: the SDK's text dumps the
		// response body, which for a garbled success could hold a token.
		resp := afe.RawResponse
		credType, _, _ := strings.Cut(afe.Error(), " ")
		msg := fmt.Sprintf("%s: HTTP %d", credType, resp.StatusCode)
		if code := entraErrorCode(resp); code != "" {
			msg += " " + code
		}
		e.Err = &safeError{msg: msg, cause: err}
		switch r := statusReason(resp.StatusCode); r {
		case ReasonThrottled, ReasonUnavailable, ReasonForbidden:
			e.Reason = r
		}
	} else {
		e.Err = &safeError{msg: scrub(err.Error()), cause: err}
		if r := transportReason(err); r != "" {
			e.Reason = r
		}
	}
	switch e.Reason {
	case ReasonUnauthorized:
		e.Hint = "Entra refused to issue a token to " + desc + "; check auth.method, tenant_id, client_id and the credential"
	case ReasonForbidden:
		e.Hint = desc + " may not get tokens for this scope"
	default:
		e.Hint = transportHint(e.Reason, "the token endpoint of "+desc)
	}
	return e
}

// entraErrorCode returns "invalid_client AADSTS7000215"-style codes from an
// Entra or managed-identity error response, never the free text.
func entraErrorCode(resp *http.Response) string {
	body, err := runtime.Payload(resp)
	if err != nil {
		return ""
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var codes []string
	if oauthCodePattern.MatchString(e.Error) {
		codes = append(codes, e.Error)
	}
	if c := aadstsPattern.FindString(e.Description); c != "" {
		codes = append(codes, c)
	}
	return strings.Join(codes, " ")
}

// oauthCodePattern admits OAuth error codes such as invalid_client.
var oauthCodePattern = regexp.MustCompile(`^[a-z_]{1,64}$`)
