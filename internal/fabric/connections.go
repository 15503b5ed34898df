package fabric

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/secret"
)

// The connectivity types whose credentials are encrypted with the
// gateway's keys; every other takes typed credentials in clear.
const (
	OnPremisesGateway         = "OnPremisesGateway"
	OnPremisesGatewayPersonal = "OnPremisesGatewayPersonal"
)

// Connection is the part of the swagger Connection that rotatord reads.
type Connection struct {
	ID                string            `json:"id"`
	DisplayName       string            `json:"displayName"`
	GatewayID         string            `json:"gatewayId"` // for cloud connections, the virtual gateway's
	ConnectivityType  string            `json:"connectivityType"`
	ConnectionDetails ConnectionDetails `json:"connectionDetails"`
	PrivacyLevel      string            `json:"privacyLevel"`
	CredentialDetails CredentialDetails `json:"credentialDetails"`
}

// ConnectionDetails is the swagger ListConnectionDetails: what the
// connection connects to. (No tags: struct{ Type, Path string } converts.)
type ConnectionDetails struct {
	Type, Path string
}

// CredentialDetails is the swagger ListCredentialDetails: how the connection
// authenticates, never the credential itself. (No tags, as
// ConnectionDetails.)
type CredentialDetails struct {
	CredentialType, SingleSignOnType, ConnectionEncryption string
	SkipTestConnection                                     bool
}

// GetConnection returns a connection: its connectivity type and gateway say
// how UpdateConnectionCredentials must send its credentials.
func (c *Client) GetConnection(ctx context.Context, connectionID string) (Connection, error) {
	var conn Connection
	if err := checkUUIDs(opGetConnection, "connectionId", connectionID); err != nil {
		return conn, err
	}
	err := c.getJSON(ctx, opGetConnection, &conn, "connections", connectionID)
	return conn, err
}

// ListConnections lists the connections the identity has permission for,
// across every page (see list).
func (c *Client) ListConnections(ctx context.Context) ([]Connection, error) {
	return list[Connection](ctx, c, opListConnections, "connections")
}

// EncryptedValue is one gateway member's credentials, encrypted with its
// public key.
type EncryptedValue struct {
	GatewayID            string // the member's id (Member.ID)
	EncryptedCredentials secret.Secret
}

// CredentialUpdate is the credentials UpdateConnectionCredentials sends.
// Exactly one of Values, Encrypted and Typed is set, the one
// ConnectivityType takes. Marshalling it shows its secrets as REDACTED;
// they are revealed only when the request body is written.
type CredentialUpdate struct {
	ConnectivityType   string           // the connection's, sent as the discriminator
	CredentialType     string           // Fabric's spelling: Basic, Windows, Key, ServicePrincipal, …
	SkipTestConnection *bool            // nil: omitted, and Fabric tests the credential
	Values             []EncryptedValue // OnPremisesGateway: one per member
	Encrypted          secret.Secret    // OnPremisesGatewayPersonal
	// Typed, for cloud and virtual-network connections: the whole typed
	// credentials object, {"credentialType":"Basic","username":…,
	// "password":…}, sent as it is. Its credentialType must be
	// CredentialType's, when that is set.
	Typed secret.Secret
}

// UpdateConnectionCredentials sets a connection's credentials (PATCH). It
// sends the least the swagger requires — the connectivity type and the
// credential details' credentials, and skipTestConnection when set — so
// that the connection's other settings (display name, privacy level,
// single sign-on, encryption) stay as they are. Unless SkipTestConnection
// is true Fabric tests the credential first and refuses one that does not
// connect: the *Error's ConnectionFailure then says why.
func (c *Client) UpdateConnectionCredentials(ctx context.Context, connectionID string, u CredentialUpdate) error {
	if err := checkUUIDs(opUpdateConnection, "connectionId", connectionID); err != nil {
		return err
	}
	body, sent, err := updateBody(u)
	if err != nil {
		return err
	}
	// Beside the rotation's secrets (the plain ones, which the service may
	// echo once it has decrypted them), what was sent.
	ctx = secret.WithValues(ctx, sent...)
	return c.send(ctx, opUpdateConnection, http.MethodPatch, body, "connections", connectionID)
}

// updateBody is the PATCH body for u and the values in it that must never
// appear in an error: the credentials sent and, for typed credentials,
// each string in them. No error it returns quotes a secret.
func updateBody(u CredentialUpdate) ([]byte, []secret.Secret, error) {
	n := 0
	for _, set := range []bool{len(u.Values) > 0, !u.Encrypted.IsZero(), !u.Typed.IsZero()} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, nil, invalid(opUpdateConnection, "exactly one of Values, Encrypted and Typed must be set", "")
	}
	if u.ConnectivityType == "" || azrest.CleanCode(u.ConnectivityType) != u.ConnectivityType {
		return nil, nil, invalid(opUpdateConnection, "connectivityType is empty or not a name", "pass the connection's, as Get Connection answers it")
	}
	if u.CredentialType != "" && azrest.CleanCode(u.CredentialType) != u.CredentialType {
		return nil, nil, invalid(opUpdateConnection, "credentialType is not a name", "")
	}
	var (
		creds json.RawMessage
		sent  []secret.Secret
		err   error
	)
	switch u.ConnectivityType {
	case OnPremisesGateway:
		creds, sent, err = memberCredentials(u)
	case OnPremisesGatewayPersonal:
		creds, sent, err = personalCredentials(u)
	default:
		creds, sent, err = typedCredentials(u)
	}
	if err != nil {
		return nil, nil, err
	}
	type wireDetails struct {
		SkipTestConnection *bool           `json:"skipTestConnection,omitempty"`
		Credentials        json.RawMessage `json:"credentials"`
	}
	body, err := json.Marshal(struct {
		ConnectivityType  string      `json:"connectivityType"`
		CredentialDetails wireDetails `json:"credentialDetails"`
	}{u.ConnectivityType, wireDetails{SkipTestConnection: u.SkipTestConnection, Credentials: creds}})
	if err != nil {
		// encoding/json's errors may quote the bytes: never this one's.
		return nil, nil, invalid(opUpdateConnection, "encoding request", "")
	}
	return body, sent, nil
}

// onPremisesCredentials is the swagger OnPremisesGatewayCredentials and
// OnPremisesGatewayPersonalCredentials.
type onPremisesCredentials struct {
	CredentialType       string         `json:"credentialType"`
	Values               []wireMemberCr `json:"values,omitempty"`
	EncryptedCredentials string         `json:"encryptedCredentials,omitempty"`
}

// wireMemberCr is the swagger OnPremisesCredentialEntry.
type wireMemberCr struct {
	GatewayID            string `json:"gatewayId"`
	EncryptedCredentials string `json:"encryptedCredentials"`
}

func memberCredentials(u CredentialUpdate) (json.RawMessage, []secret.Secret, error) {
	if len(u.Values) == 0 {
		return nil, nil, invalid(opUpdateConnection, "an OnPremisesGateway connection takes Values, one per gateway member", "")
	}
	if u.CredentialType == "" {
		return nil, nil, invalid(opUpdateConnection, "credentialType is empty", "")
	}
	oc := onPremisesCredentials{CredentialType: u.CredentialType}
	var sent []secret.Secret
	seen := map[string]bool{}
	for i, v := range u.Values {
		if !azrest.IsUUID(v.GatewayID) {
			return nil, nil, invalid(opUpdateConnection, fmt.Sprintf("values[%d].gatewayId %q is not a UUID", i, v.GatewayID), "pass the member ids List Gateway Members answers")
		}
		if seen[v.GatewayID] {
			return nil, nil, invalid(opUpdateConnection, fmt.Sprintf("values[%d].gatewayId %s is there twice", i, v.GatewayID), "")
		}
		seen[v.GatewayID] = true
		if v.EncryptedCredentials.IsZero() {
			return nil, nil, invalid(opUpdateConnection, fmt.Sprintf("values[%d].encryptedCredentials is empty", i), "")
		}
		oc.Values = append(oc.Values, wireMemberCr{GatewayID: v.GatewayID, EncryptedCredentials: v.EncryptedCredentials.RevealString()})
		sent = append(sent, v.EncryptedCredentials)
	}
	return marshalCredentials(oc, sent)
}

func personalCredentials(u CredentialUpdate) (json.RawMessage, []secret.Secret, error) {
	if u.Encrypted.IsZero() {
		return nil, nil, invalid(opUpdateConnection, "an OnPremisesGatewayPersonal connection takes Encrypted", "")
	}
	if u.CredentialType == "" {
		return nil, nil, invalid(opUpdateConnection, "credentialType is empty", "")
	}
	return marshalCredentials(onPremisesCredentials{CredentialType: u.CredentialType, EncryptedCredentials: u.Encrypted.RevealString()},
		[]secret.Secret{u.Encrypted})
}

func marshalCredentials(oc onPremisesCredentials, sent []secret.Secret) (json.RawMessage, []secret.Secret, error) {
	b, err := json.Marshal(oc)
	if err != nil {
		return nil, nil, invalid(opUpdateConnection, "encoding request", "")
	}
	return b, sent, nil
}

// typedCredentials checks the typed credentials of a cloud or
// virtual-network connection: a JSON object with a credentialType.
func typedCredentials(u CredentialUpdate) (json.RawMessage, []secret.Secret, error) {
	if u.Typed.IsZero() {
		return nil, nil, invalid(opUpdateConnection, fmt.Sprintf("a %s connection takes Typed credentials", u.ConnectivityType), "")
	}
	raw := u.Typed.Reveal()
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		// Not quoting encoding/json's error: it may quote the secret.
		return nil, nil, invalid(opUpdateConnection, "the typed credentials are not a JSON object", "")
	}
	var ct string
	if json.Unmarshal(obj["credentialType"], &ct) != nil || ct == "" {
		return nil, nil, invalid(opUpdateConnection, "the typed credentials have no credentialType", "")
	}
	if u.CredentialType != "" && ct != u.CredentialType {
		return nil, nil, invalid(opUpdateConnection, fmt.Sprintf("the typed credentials' credentialType is not %q", u.CredentialType), "")
	}
	sent := []secret.Secret{u.Typed}
	for k, v := range obj {
		var s string
		if k != "credentialType" && json.Unmarshal(v, &s) == nil {
			sent = append(sent, secret.FromString(s))
		}
	}
	return json.RawMessage(raw), sent, nil
}

// Principal is the swagger Principal: an Entra user, group or service
// principal, by object id.
type Principal struct {
	ID   string `json:"id"`
	Type string `json:"type"` // User, Group, ServicePrincipal, ServicePrincipalProfile, EntireTenant
}

// RoleAssignment is the swagger ConnectionRoleAssignment: who may use a
// connection, and how.
type RoleAssignment struct {
	ID        string    `json:"id"`
	Principal Principal `json:"principal"`
	Role      string    `json:"role"` // User, UserWithReshare, Owner
}

// ListConnectionRoleAssignments lists who may use a connection, across
// every page (see list).
func (c *Client) ListConnectionRoleAssignments(ctx context.Context, connectionID string) ([]RoleAssignment, error) {
	if err := checkUUIDs(opListConnectionRoleAssignments, "connectionId", connectionID); err != nil {
		return nil, err
	}
	return list[RoleAssignment](ctx, c, opListConnectionRoleAssignments, "connections", connectionID, "roleAssignments")
}

// AddConnectionRoleAssignment gives a principal a role on a connection.
func (c *Client) AddConnectionRoleAssignment(ctx context.Context, connectionID string, p Principal, role string) error {
	const op = opAddConnectionRoleAssignment
	if err := checkUUIDs(op, "connectionId", connectionID, "principal.id", p.ID); err != nil {
		return err
	}
	if err := checkNames(op, "principal.type", p.Type, "role", role); err != nil {
		return err
	}
	body, err := marshal(op, struct {
		Principal Principal `json:"principal"`
		Role      string    `json:"role"`
	}{p, role})
	if err != nil {
		return err
	}
	return c.send(ctx, op, http.MethodPost, body, "connections", connectionID, "roleAssignments")
}

// UpdateConnectionRoleAssignment changes the role of a connection's role
// assignment.
func (c *Client) UpdateConnectionRoleAssignment(ctx context.Context, connectionID, assignmentID, role string) error {
	const op = opUpdateConnectionRoleAssignment
	if err := checkUUIDs(op, "connectionId", connectionID, "connectionRoleAssignmentId", assignmentID); err != nil {
		return err
	}
	if err := checkNames(op, "role", role); err != nil {
		return err
	}
	body, err := marshal(op, struct {
		Role string `json:"role"`
	}{role})
	if err != nil {
		return err
	}
	return c.send(ctx, op, http.MethodPatch, body, "connections", connectionID, "roleAssignments", assignmentID)
}

// DeleteConnectionRoleAssignment removes a role assignment from a
// connection.
func (c *Client) DeleteConnectionRoleAssignment(ctx context.Context, connectionID, assignmentID string) error {
	const op = opDeleteConnectionRoleAssignment
	if err := checkUUIDs(op, "connectionId", connectionID, "connectionRoleAssignmentId", assignmentID); err != nil {
		return err
	}
	return c.send(ctx, op, http.MethodDelete, nil, "connections", connectionID, "roleAssignments", assignmentID)
}

// checkUUIDs validates path parameters and ids given as name, value pairs;
// Fabric ids are UUIDs, and catching a typo here gives a clearer error than
// a 404.
func checkUUIDs(op string, nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if name, v := nameValues[i], nameValues[i+1]; !azrest.IsUUID(v) {
			return invalid(op, fmt.Sprintf("%s %q is not a UUID", name, v), uuidHint(name))
		}
	}
	return nil
}

// checkNames validates enum values given as name, value pairs: non-empty
// identifiers.
func checkNames(op string, nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if name, v := nameValues[i], nameValues[i+1]; v == "" || azrest.CleanCode(v) != v {
			return invalid(op, fmt.Sprintf("%s %q is empty or not a name", name, v), hintBadRole)
		}
	}
	return nil
}

// uuidHint says where a malformed id came from.
func uuidHint(name string) string {
	switch name {
	case "connectionId":
		return "check connection_id in the inventory"
	case "gatewayId":
		return "the gateway id is the connection's, as Get Connection answers it"
	case "connectionRoleAssignmentId":
		return "the role assignment id is one List Connection Role Assignments answers"
	case "principal.id":
		return "check users' identifier in the inventory: an Entra object id"
	}
	return ""
}

func invalid(op, what, hint string) *Error {
	return &Error{Operation: op, Err: fmt.Errorf("%s: %w", what, ErrInvalidArgument), Hint: hint}
}
