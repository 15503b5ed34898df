package pbi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/secret"
)

// Operation names: the swagger operationIds, used in errors and metrics.
const (
	opGetGateway           = "Gateways_GetGateway"
	opUpdateDatasource     = "Gateways_UpdateDatasource"
	opGetDatasourceUsers   = "Gateways_GetDatasourceUsers"
	opAddDatasourceUser    = "Gateways_AddDatasourceUser"
	opDeleteDatasourceUser = "Gateways_DeleteDatasourceUser"
	opGetDatasourceStatus  = "Gateways_GetDatasourceStatus"
)

// PublicKey is a gateway's RSA public key: base64 of the big-endian exponent
// and modulus.
type PublicKey struct {
	Exponent string `json:"exponent"`
	Modulus  string `json:"modulus"`
}

// Gateway is the swagger Gateway.
type Gateway struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Type      string    `json:"type,omitempty"`
	PublicKey PublicKey `json:"publicKey"`
}

// CredentialDetails is the swagger CredentialDetails sent by UpdateDatasource.
// Credentials is the credentials string — encrypted with the gateway key, or
// the plain credentials JSON for cloud data sources — and is revealed only
// when the request body is written; marshalling this struct yourself shows
// it as REDACTED.
type CredentialDetails struct {
	CredentialType              string              `json:"credentialType"`
	Credentials                 secret.Secret       `json:"credentials"`
	EncryptedConnection         string              `json:"encryptedConnection"`
	EncryptionAlgorithm         EncryptionAlgorithm `json:"encryptionAlgorithm"`
	PrivacyLevel                string              `json:"privacyLevel"`
	UseEndUserOAuth2Credentials *bool               `json:"useEndUserOAuth2Credentials,omitempty"` // omitted when nil
}

// EncryptionAlgorithm is the swagger encryptionAlgorithm: what
// CredentialDetails.Credentials is.
type EncryptionAlgorithm string

// The encryption algorithms of CredentialDetails.
const (
	EncryptionNone    EncryptionAlgorithm = "None"     // the plain credentials JSON (cloud data sources)
	EncryptionRSAOAEP EncryptionAlgorithm = "RSA-OAEP" // encrypted with the gateway's public key
)

// DatasourceUser is the swagger DatasourceUser.
type DatasourceUser struct {
	DatasourceAccessRight string `json:"datasourceAccessRight"`
	EmailAddress          string `json:"emailAddress,omitempty"`
	DisplayName           string `json:"displayName,omitempty"`
	Identifier            string `json:"identifier,omitempty"`
	PrincipalType         string `json:"principalType,omitempty"`
}

// UserID returns what names a data source user to Power BI: its email
// address when it has one, else its identifier (an object ID; apps have
// only that). "" means the user is named by neither.
func UserID(email, identifier string) string {
	if email != "" {
		return email
	}
	return identifier
}

// UserKey is the user UserID names, folded as Power BI compares users
// (case-insensitively), for maps and duplicate checks: two users with one
// key are one principal. An email and an identifier never share a key.
func UserKey(email, identifier string) string {
	if email != "" {
		return "email:" + strings.ToLower(email)
	}
	return "id:" + strings.ToLower(identifier)
}

// ID is UserID of u.
func (u DatasourceUser) ID() string { return UserID(u.EmailAddress, u.Identifier) }

// Key is UserKey of u.
func (u DatasourceUser) Key() string { return UserKey(u.EmailAddress, u.Identifier) }

// GetGateway returns a gateway, with the public key to encrypt credentials for
// it. Cloud data sources have no real gateway: this fails with 404 for them.
func (c *Client) GetGateway(ctx context.Context, gatewayID string) (Gateway, error) {
	var g Gateway
	if err := checkUUIDs(opGetGateway, "gatewayId", gatewayID); err != nil {
		return g, err
	}
	err := c.getJSON(ctx, opGetGateway, &g, "gateways", gatewayID)
	return g, err
}

// UpdateDatasource sets a data source's credentials (PATCH).
func (c *Client) UpdateDatasource(ctx context.Context, gatewayID, datasourceID string, d CredentialDetails) error {
	if err := checkUUIDs(opUpdateDatasource, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return err
	}
	if d.Credentials.IsZero() {
		return invalid(opUpdateDatasource, "credentialDetails.credentials is empty", "")
	}
	creds := d.Credentials.RevealString()
	type wireDetails struct {
		CredentialType              string              `json:"credentialType"`
		Credentials                 string              `json:"credentials"`
		EncryptedConnection         string              `json:"encryptedConnection"`
		EncryptionAlgorithm         EncryptionAlgorithm `json:"encryptionAlgorithm"`
		PrivacyLevel                string              `json:"privacyLevel"`
		UseEndUserOAuth2Credentials *bool               `json:"useEndUserOAuth2Credentials,omitempty"`
	}
	body, err := json.Marshal(struct {
		CredentialDetails wireDetails `json:"credentialDetails"`
	}{wireDetails{
		CredentialType:              d.CredentialType,
		Credentials:                 creds,
		EncryptedConnection:         d.EncryptedConnection,
		EncryptionAlgorithm:         d.EncryptionAlgorithm,
		PrivacyLevel:                d.PrivacyLevel,
		UseEndUserOAuth2Credentials: d.UseEndUserOAuth2Credentials,
	}})
	if err != nil {
		return &Error{Operation: opUpdateDatasource, Err: fmt.Errorf("encoding request: %w", ErrInvalidArgument)}
	}
	// Beside the rotation's secrets (the plain ones, which the service may
	// echo once it has decrypted them), what was sent.
	ctx = secret.WithValues(ctx, sentValues(creds)...)
	_, err = c.do(ctx, request{
		op:     opUpdateDatasource,
		method: http.MethodPatch,
		path:   []string{"gateways", gatewayID, "datasources", datasourceID},
		body:   body,
	})
	return err
}

// GetDatasourceUsers lists the users with access to a data source, across
// every page Power BI answers with (see list).
func (c *Client) GetDatasourceUsers(ctx context.Context, gatewayID, datasourceID string) ([]DatasourceUser, error) {
	if err := checkUUIDs(opGetDatasourceUsers, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return nil, err
	}
	return list[DatasourceUser](ctx, c, opGetDatasourceUsers, "gateways", gatewayID, "datasources", datasourceID, "users")
}

// AddDatasourceUser grants a user access to a data source, or updates the
// access right of a user who has some.
func (c *Client) AddDatasourceUser(ctx context.Context, gatewayID, datasourceID string, u DatasourceUser) error {
	if err := checkUUIDs(opAddDatasourceUser, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return err
	}
	if u.ID() == "" {
		return invalid(opAddDatasourceUser, "user has neither emailAddress nor identifier", "")
	}
	body, err := json.Marshal(u)
	if err != nil {
		return &Error{Operation: opAddDatasourceUser, Err: fmt.Errorf("encoding request: %w", err)}
	}
	_, err = c.do(ctx, request{
		op:     opAddDatasourceUser,
		method: http.MethodPost,
		path:   []string{"gateways", gatewayID, "datasources", datasourceID, "users"},
		body:   body,
	})
	return err
}

// DeleteDatasourceUser removes a user, named by email address or object ID,
// from a data source.
func (c *Client) DeleteDatasourceUser(ctx context.Context, gatewayID, datasourceID, emailOrID string) error {
	if err := checkUUIDs(opDeleteDatasourceUser, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return err
	}
	if emailOrID == "" {
		// Named as the swagger names the path parameter, typo included, like
		// gatewayId and datasourceId in checkUUIDs.
		return invalid(opDeleteDatasourceUser, "path parameter emailAdress (sic: the swagger's name) is empty", "pass the user's email address or object ID")
	}
	_, err := c.do(ctx, request{
		op:     opDeleteDatasourceUser,
		method: http.MethodDelete,
		path:   []string{"gateways", gatewayID, "datasources", datasourceID, "users", emailOrID},
	})
	return err
}

// GetDatasourceStatus asks the gateway to connect to a data source with the
// credentials it holds, and returns nil when it did (Power BI answers 200
// with an empty body). When it did not, Power BI answers 400 and the *Error's
// ConnectionFailure says why, NativeCode and Message what the database said.
func (c *Client) GetDatasourceStatus(ctx context.Context, gatewayID, datasourceID string) error {
	if err := checkUUIDs(opGetDatasourceStatus, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return err
	}
	// A body, should a 200 ever carry one, says nothing more: it is ignored.
	_, err := c.do(ctx, request{
		op:      opGetDatasourceStatus,
		method:  http.MethodGet,
		path:    []string{"gateways", gatewayID, "datasources", datasourceID, "status"},
		emptyOK: true,
	})
	return err
}

func (c *Client) getJSON(ctx context.Context, op string, out any, path ...string) error {
	body, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return c.core.DecodeError(ctx, op, http.StatusOK, err)
	}
	return nil
}

// checkUUIDs validates path parameters given as name, value pairs; Power BI
// ids are UUIDs, and catching a typo here gives a clearer error than a 404.
func checkUUIDs(op string, nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if name, v := nameValues[i], nameValues[i+1]; !IsUUID(v) {
			return invalid(op, fmt.Sprintf("%s %q is not a UUID", name, v), uuidHint(name))
		}
	}
	return nil
}

// uuidHint says where a malformed path parameter came from: the inventory
// for a gateway or data source, discover's arguments for a workspace or
// dataset.
func uuidHint(name string) string {
	switch name {
	case "groupId":
		return "check --workspace: the workspace id, as in app.powerbi.com/groups/ID/..."
	case "datasetId":
		return "check the dataset id, as Get Datasets In Group lists it (app.powerbi.com/groups/.../datasets/ID/...)"
	}
	return "check " + snake(name) + " in the inventory"
}

func invalid(op, what, hint string) *Error {
	return &Error{Operation: op, Err: fmt.Errorf("%s: %w", what, ErrInvalidArgument), Hint: hint}
}

// snake turns "gatewayId" into "gateway_id", the inventory's spelling.
func snake(s string) string {
	out := make([]byte, 0, len(s)+2)
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' {
			out = append(out, '_', c+'a'-'A')
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// IsUUID reports whether s is a UUID in the 8-4-4-4-12 hex form in which
// Power BI and Entra ID print gateway, data source, tenant and object ids.
func IsUUID(s string) bool { return azrest.IsUUID(s) }

// sentValues is what must never appear in an error after sending creds:
// the credentials string and, when it is the plain credentials JSON (cloud
// data sources), each value in it. secret.WithValues adds their JSON-escaped
// forms and leaves out values too short to tell from innocent words.
func sentValues(creds string) []secret.Secret {
	values := []secret.Secret{secret.FromString(creds)}
	var plain struct {
		CredentialData []struct {
			Value string `json:"value"`
		} `json:"credentialData"`
	}
	if json.Unmarshal([]byte(creds), &plain) == nil {
		for _, nv := range plain.CredentialData {
			values = append(values, secret.FromString(nv.Value))
		}
	}
	return values
}
