package emulator

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// fabUpdateRequest is the swagger UpdateConnectionRequest (any subtype),
// already validated.
type fabUpdateRequest struct {
	ConnectivityType  string  `json:"connectivityType"`
	DisplayName       *string `json:"displayName"`
	PrivacyLevel      string  `json:"privacyLevel"`
	CredentialDetails *struct {
		SingleSignOnType     string          `json:"singleSignOnType"`
		ConnectionEncryption string          `json:"connectionEncryption"`
		SkipTestConnection   *bool           `json:"skipTestConnection"`
		Credentials          json.RawMessage `json:"credentials"`
	} `json:"credentialDetails"`
}

// fabCredentials is what the emulator reads of the credentials object of
// any connectivity type: OnPremisesGatewayCredentials' values,
// OnPremisesGatewayPersonalCredentials' encryptedCredentials, or the typed
// credentials' type (their fields are read as a map).
type fabCredentials struct {
	CredentialType string `json:"credentialType"`
	Values         []struct {
		GatewayID            string `json:"gatewayId"`
		EncryptedCredentials string `json:"encryptedCredentials"`
	} `json:"values"`
	EncryptedCredentials string `json:"encryptedCredentials"`
}

// memberSnap is what decryption needs of a member, taken under the lock.
type memberSnap struct {
	id       string
	key      *rsa.PrivateKey
	disabled bool
}

// fabRefusal is a 400 (or other) answer to a credentials PATCH.
type fabRefusal struct {
	status        int
	code, message string
}

func refusal(code, format string, args ...any) *fabRefusal {
	return &fabRefusal{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// serveUpdate handles Update Connection. A PATCH without credentials
// changes the connection's name, privacy level and single sign-on
// settings. One with credentials is checked as the service and its
// gateways would — the connectivity type, the credential type, then the
// values of every enabled cluster member decrypted with that member's key,
// the personal gateway's one, or the typed credentials — and unless
// skipTestConnection is true, tried against the data source. Any failure
// leaves the previous credential in place.
func (f *Fabric) serveUpdate(w http.ResponseWriter, r *http.Request, rt fabRoute) {
	start := f.now()
	body, ok := f.readBody(w, r, OpFabricUpdateConnection)
	if !ok {
		return
	}
	defer clear(body) // it holds the credentials
	var req fabUpdateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "The request body does not match UpdateConnectionRequest.")
		return
	}
	echo := f.faults.takeEcho(OpFabricUpdateConnection)

	// Snapshot what decryption needs, then decrypt outside the lock: RSA is slow.
	k := strings.ToLower(rt.connectionID)
	f.mu.Lock()
	c := f.connections[k]
	var (
		connectivity, gatewayID string
		members                 []memberSnap
	)
	if c != nil {
		connectivity, gatewayID = c.ConnectivityType, c.GatewayID
		members = f.membersLocked(c)
	}
	f.mu.Unlock()
	switch {
	case c == nil:
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested connection was not found.")
		return
	case req.ConnectivityType != connectivity:
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput,
			fmt.Sprintf("connectivityType: %q does not match the connection's %q", clip(req.ConnectivityType, 40), connectivity))
		return
	}
	cd := req.CredentialDetails
	if cd == nil || len(cd.Credentials) == 0 || string(cd.Credentials) == "null" {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.connections[k] != c {
			fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested connection was not found.")
			return
		}
		c.apply(req)
		fabricJSON(w, http.StatusOK, c.json())
		return
	}
	var creds fabCredentials
	if err := json.Unmarshal(cd.Credentials, &creds); err != nil {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "credentialDetails.credentials does not match the connectivity type's credentials")
		return
	}

	rec := FabricReceived{CredentialType: creds.CredentialType, SkipTestConnection: cd.SkipTestConnection}
	fail := allowedCredential(connectivity, creds.CredentialType)
	if fail == nil {
		switch connectivity {
		case FabricOnPremisesGateway:
			rec.Plain, rec.Fields, fail = decryptCluster(gatewayID, members, creds)
		case FabricOnPremisesGatewayPersonal:
			rec.Plain, rec.Fields, fail = decryptPersonal(gatewayID, members, creds)
		default:
			rec.Typed = string(cd.Credentials)
			rec.Fields, fail = typedFields(cd.Credentials, creds.CredentialType)
		}
	}
	if fail == nil && echo {
		fail = echoRefusal(rec.Fields)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.connections[k] != c {
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested connection was not found.")
		return
	}
	if fail == nil && members != nil && !slices.Equal(members, f.membersLocked(c)) {
		// The cluster changed while we decrypted: the gateway could no
		// longer read what it would store. Refuse as the real one would.
		fail = refusal(FabricCodeInvalidEncryptedCredentials, "the members of gateway %s changed while the credentials were decrypted", gatewayID)
	}
	skip := cd.SkipTestConnection != nil && *cd.SkipTestConnection
	if fail == nil && !skip {
		if t := f.testLocked(c, rec.Fields, true); !t.online {
			fail = refusal(FabricCodeUpdateGatewayConnectionFailed, "Failed to test the connection: %s", t.message)
			if t.rejected {
				fail = refusal(FabricCodeIncorrectCredentials, "Failed to establish connection using the Credentials input: %s", t.message)
			}
		}
	}
	if fail != nil {
		c.refused++
		fabricError(w, fail.status, fail.code, fail.message)
		return
	}
	rec.At, rec.Start, rec.Agent = f.now(), start, r.UserAgent()
	c.history = append(c.history, rec)
	c.CredentialType = creds.CredentialType
	c.skipTest = skip
	c.apply(req)
	fabricJSON(w, http.StatusOK, c.json())
}

// apply sets what a PATCH changes of a connection besides its credential.
func (c *fabConnection) apply(req fabUpdateRequest) {
	if req.DisplayName != nil {
		c.DisplayName = *req.DisplayName
	}
	if req.PrivacyLevel != "" {
		c.PrivacyLevel = req.PrivacyLevel
	}
	if cd := req.CredentialDetails; cd != nil {
		if cd.SingleSignOnType != "" {
			c.sso = cd.SingleSignOnType
		}
		if cd.ConnectionEncryption != "" {
			c.encryption = cd.ConnectionEncryption
		}
	}
}

// membersLocked snapshots the keys of c's on-premises gateway, in order;
// nil for connections without keys.
func (f *Fabric) membersLocked(c *fabConnection) []memberSnap {
	if c.ConnectivityType != FabricOnPremisesGateway && c.ConnectivityType != FabricOnPremisesGatewayPersonal {
		return nil
	}
	g := f.gateways[strings.ToLower(c.GatewayID)]
	if g == nil {
		return nil
	}
	out := make([]memberSnap, len(g.members))
	for i, m := range g.members {
		out[i] = memberSnap{id: m.id, key: m.key, disabled: m.disabled}
	}
	return out
}

// allowedCredential refuses a credential type the connectivity type does
// not take: Windows only through on-premises gateways, WorkspaceIdentity
// and the other cloud identities not through them, OAuth2 nowhere (Fabric
// sets OAuth2 credentials interactively only).
func allowedCredential(connectivity, credentialType string) *fabRefusal {
	onPrem := connectivity == FabricOnPremisesGateway || connectivity == FabricOnPremisesGatewayPersonal
	switch credentialType {
	case "Basic", "Key", "SharedAccessSignature", "Anonymous":
		return nil
	case "Windows", "WindowsWithoutImpersonation":
		if onPrem {
			return nil
		}
		return refusal(FabricCodeInvalidCredentialDetails, "%s credentials are supported through on-premises gateways only, not on %s connections", credentialType, connectivity)
	case "ServicePrincipal", "KeyPair", "WorkspaceIdentity":
		if !onPrem {
			return nil
		}
		return refusal(FabricCodeInvalidCredentialDetails, "%s credentials are not supported on %s connections", credentialType, connectivity)
	case "OAuth2":
		return refusal(FabricCodeInvalidCredentialDetails, "OAuth2 credentials cannot be set through the API")
	}
	return refusal(FabricCodeInvalidCredentialDetails, "credentialType %q is not supported", clip(credentialType, 40))
}

// pbiCredentialType is the Power BI credential type whose credentials
// document an on-premises gateway expects for a Fabric credential type.
func pbiCredentialType(fabricType string) string {
	switch fabricType {
	case "WindowsWithoutImpersonation":
		return "Windows"
	case "SharedAccessSignature":
		return "SAS"
	}
	return fabricType
}

// parseFabricCredentials checks a decrypted credentials document as Power
// BI's gateway does (parseCredentials), under the Fabric type's name.
func parseFabricCredentials(plaintext []byte, credentialType string) (map[string]string, error) {
	pbi := pbiCredentialType(credentialType)
	fields, err := parseCredentials(plaintext, pbi)
	if err != nil && pbi != credentialType {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pbi+" credentials", credentialType+" credentials"))
	}
	return fields, err
}

// decryptCluster decrypts the value of every enabled member of a cluster
// with that member's key and checks that they all hold the same valid
// credentials document. Values for disabled members are ignored.
func decryptCluster(gatewayID string, members []memberSnap, creds fabCredentials) (map[string]string, map[string]string, *fabRefusal) {
	values := map[string]string{}
	for i, v := range creds.Values {
		k := strings.ToLower(v.GatewayID)
		if _, dup := values[k]; dup {
			return nil, nil, refusal(FabricCodeInvalidCredentialDetails, "credentials.values[%d]: gateway member %s appears twice", i, v.GatewayID)
		}
		if !slices.ContainsFunc(members, func(m memberSnap) bool { return strings.EqualFold(m.id, v.GatewayID) }) {
			return nil, nil, refusal(FabricCodeInvalidEncryptedCredentials, "credentials.values[%d]: %s is not a member of gateway %s", i, v.GatewayID, gatewayID)
		}
		values[k] = v.EncryptedCredentials
	}
	plain := map[string]string{}
	var (
		fields  map[string]string
		first   []byte
		firstID string
		enabled int
	)
	defer func() { clear(first) }()
	for _, m := range members {
		if m.disabled {
			continue
		}
		enabled++
		enc, ok := values[strings.ToLower(m.id)]
		if !ok {
			return nil, nil, refusal(FabricCodeInvalidEncryptedCredentials,
				"no encrypted credentials for member %s of gateway %s: every enabled member needs its own, encrypted with its public key", m.id, gatewayID)
		}
		pt, err := ciphertest.Decrypt(m.key, enc)
		if err != nil {
			// err describes the cipher failure, never the plaintext.
			return nil, nil, refusal(FabricCodeInvalidEncryptedCredentials, "member %s of gateway %s could not decrypt its credentials: %v", m.id, gatewayID, err)
		}
		flds, err := parseFabricCredentials(pt, creds.CredentialType)
		if err != nil {
			clear(pt)
			return nil, nil, refusal(FabricCodeInvalidCredentialDetails, "member %s: %v", m.id, err)
		}
		if first == nil {
			first, firstID, fields = pt, m.id, flds
		} else {
			same := bytes.Equal(first, pt)
			clear(pt)
			if !same {
				return nil, nil, refusal(FabricCodeInvalidCredentialDetails, "members %s and %s of gateway %s decrypted different credentials", firstID, m.id, gatewayID)
			}
		}
		plain[m.id] = string(first)
	}
	if enabled == 0 {
		return nil, nil, refusal(FabricCodeInvalidEncryptedCredentials, "gateway %s has no enabled member", gatewayID)
	}
	return plain, fields, nil
}

// decryptPersonal decrypts the one value of a personal gateway's connection.
func decryptPersonal(gatewayID string, members []memberSnap, creds fabCredentials) (map[string]string, map[string]string, *fabRefusal) {
	if len(members) != 1 {
		return nil, nil, refusal(FabricCodeInvalidEncryptedCredentials, "gateway %s has no key", gatewayID)
	}
	pt, err := ciphertest.Decrypt(members[0].key, creds.EncryptedCredentials)
	if err != nil {
		return nil, nil, refusal(FabricCodeInvalidEncryptedCredentials, "gateway %s could not decrypt the credentials: %v", gatewayID, err)
	}
	defer clear(pt)
	fields, err := parseFabricCredentials(pt, creds.CredentialType)
	if err != nil {
		return nil, nil, refusal(FabricCodeInvalidCredentialDetails, "%v", err)
	}
	return map[string]string{"": string(pt)}, fields, nil
}

// typedCredentialFields are the fields each typed credential type takes
// besides credentialType: the required ones (each non-empty), then the
// optional ones. The swagger makes a secret optional where a Key Vault
// reference may replace it; the emulator resolves no references, so it
// requires the secret.
func typedCredentialFields(credentialType string) (required, optional []string) {
	switch credentialType {
	case "Basic":
		return []string{"username", "password"}, nil
	case "Key":
		return []string{"key"}, nil
	case "SharedAccessSignature":
		return []string{"token"}, nil
	case "ServicePrincipal":
		return []string{"tenantId", "servicePrincipalClientId", "servicePrincipalSecret"}, nil
	case "KeyPair":
		return []string{"identifier", "privateKey"}, []string{"passphrase"}
	}
	return nil, nil // WorkspaceIdentity, Anonymous
}

// typedFields reads typed credentials, in clear, into their fields.
// Errors name fields, never values.
func typedFields(raw json.RawMessage, credentialType string) (map[string]string, *fabRefusal) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, refusal(FabricCodeInvalidCredentialDetails, "credentials are not an object")
	}
	required, optional := typedCredentialFields(credentialType)
	fields := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(doc)) {
		if name == "credentialType" {
			continue
		}
		s, ok := doc[name].(string)
		switch {
		case strings.HasSuffix(name, "Reference"):
			return nil, refusal(FabricCodeInvalidCredentialDetails, "credentials.%s: the emulator resolves no Key Vault references; send the secret", name)
		case !ok || !slices.Contains(required, name) && !slices.Contains(optional, name):
			return nil, refusal(FabricCodeInvalidCredentialDetails, "%s credentials take %s, not %q", credentialType, orNone(append(slices.Clone(required), optional...)), clip(name, 40))
		case s == "":
			return nil, refusal(FabricCodeInvalidCredentialDetails, "credentials.%s is empty", name)
		}
		fields[name] = s
	}
	for _, name := range required {
		if _, ok := fields[name]; !ok {
			return nil, refusal(FabricCodeInvalidCredentialDetails, "%s credentials need %s (got %s)", credentialType, strings.Join(required, ", "), fieldNames(fields))
		}
	}
	return fields, nil
}

// echoRefusal answers an EchoSecret fault: a 400 whose message quotes the
// credential's fields, as a careless service would.
func echoRefusal(fields map[string]string) *fabRefusal {
	var quoted []string
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		quoted = append(quoted, fmt.Sprintf("%s=%q", name, fields[name]))
	}
	return refusal(FabricCodeIncorrectCredentials, "the data source refused the login with %s", strings.Join(quoted, " "))
}
