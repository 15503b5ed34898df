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

// updateRequest is the swagger UpdateDatasourceRequest, already validated.
type updateRequest struct {
	CredentialDetails struct {
		CredentialType      string `json:"credentialType"`
		Credentials         string `json:"credentials"`
		EncryptedConnection string `json:"encryptedConnection"`
		EncryptionAlgorithm string `json:"encryptionAlgorithm"`
		PrivacyLevel        string `json:"privacyLevel"`
	} `json:"credentialDetails"`
}

// serveUpdate handles a credentials PATCH the way a gateway would: check the
// encryption matches the data source, decrypt with the gateway's private key,
// parse the credentials JSON and require the fields of the type. Any failure
// is a 400 that leaves the previous credential in place.
func (p *PowerBI) serveUpdate(w http.ResponseWriter, r *http.Request, rt pbiRoute) {
	start := p.now()
	body, ok := p.readBody(w, r, OpUpdateDatasource)
	if !ok {
		return
	}
	defer clear(body) // it holds the credentials
	var req updateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		pbiError(w, http.StatusBadRequest, CodeInvalidRequest, "request body does not match UpdateDatasourceRequest")
		return
	}
	cd := req.CredentialDetails
	echo := p.faults.takeEcho(OpUpdateDatasource)

	// Snapshot what decryption needs, then decrypt outside the lock: RSA is slow.
	k := keyOf(rt.gatewayID, rt.dsID)
	p.mu.Lock()
	d := p.datasources[k]
	var (
		cloud    bool
		wantType string
		key      *rsa.PrivateKey
	)
	if d != nil {
		cloud, wantType = d.cloud, d.credentialType
		if g := p.gateways[k.gateway]; g != nil {
			key = g.key
		}
	}
	p.mu.Unlock()
	switch {
	case d == nil:
		pbiError(w, http.StatusNotFound, CodeEntityNotFound, "")
		return
	case cd.CredentialType != wantType:
		pbiError(w, http.StatusBadRequest, CodeCredentialTypeMismatch,
			fmt.Sprintf("credentialDetails.credentialType: %q does not match the data source's %q", cd.CredentialType, wantType))
		return
	case cloud && cd.EncryptionAlgorithm != "None":
		pbiError(w, http.StatusBadRequest, CodeInvalidEncryptionAlgo, "cloud data sources take encryptionAlgorithm None")
		return
	case !cloud && cd.EncryptionAlgorithm != "RSA-OAEP":
		pbiError(w, http.StatusBadRequest, CodeInvalidEncryptionAlgo, "on-premises data sources take credentials encrypted with the gateway key (RSA-OAEP)")
		return
	}

	var fields map[string]string
	verify := cloud || echo || p.sample()
	if !verify {
		if !base64Text(cd.Credentials) {
			pbiError(w, http.StatusBadRequest, CodeDecryptionFailed, "the gateway could not decrypt the credentials: not base64 ciphertext")
			return
		}
	} else {
		plaintext := []byte(cd.Credentials)
		if !cloud {
			var err error
			if plaintext, err = ciphertest.Decrypt(key, cd.Credentials); err != nil {
				// err describes the cipher failure, never the plaintext.
				pbiError(w, http.StatusBadRequest, CodeDecryptionFailed, "the gateway could not decrypt the credentials: "+err.Error())
				return
			}
			defer clear(plaintext)
		}
		var err error
		if fields, err = parseCredentials(plaintext, cd.CredentialType); err != nil {
			pbiError(w, http.StatusBadRequest, CodeInvalidCredentials, err.Error())
			return
		}
	}
	if echo {
		echoSecret(w, fields)
		return
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if !cloud {
		// A key rotated while we decrypted means the gateway could no longer
		// read what it would store: refuse as the real one would.
		if g := p.gateways[k.gateway]; g == nil || g.key != key {
			pbiError(w, http.StatusBadRequest, CodeDecryptionFailed, "the gateway key changed")
			return
		}
	}
	d.history = append(d.history, Received{
		CredentialType:      cd.CredentialType,
		EncryptedConnection: cd.EncryptedConnection,
		EncryptionAlgorithm: cd.EncryptionAlgorithm,
		PrivacyLevel:        cd.PrivacyLevel,
		Fields:              fields,
		At:                  p.now(),
		Start:               start,
		Agent:               r.UserAgent(),
		Unverified:          !verify,
	})
	w.WriteHeader(http.StatusOK)
}

// echoSecret answers an EchoSecret fault: a 400 whose message quotes the
// credential values in fields, as a careless service would.
func echoSecret(w http.ResponseWriter, fields map[string]string) {
	var quoted []string
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		quoted = append(quoted, fmt.Sprintf("%s=%q", name, fields[name]))
	}
	pbiError(w, http.StatusBadRequest, CodeInvalidCredentials, "the data source refused the login with "+strings.Join(quoted, " "))
}

// sample reports whether this encrypted PATCH is one VerifyEvery decrypts.
func (p *PowerBI) sample() bool {
	n := p.encrypted.Add(1) - 1
	return p.verifyEvery <= 1 || n%uint64(p.verifyEvery) == 0
}

// base64Text reports whether s is non-empty and made of base64 characters
// only. It cannot be decoded as one string: the hybrid scheme concatenates
// two base64 texts, padding included.
func base64Text(s string) bool {
	return s != "" && strings.Trim(s, base64Alphabet+"=") == ""
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// parseCredentials reads the credentials JSON — {"credentialData":[{"name",
// "value"},…]}, or "" / [] for Anonymous — and checks it carries exactly the
// fields of credentialType, each non-empty. It parses rather than compares
// bytes: Power BI takes any spacing and ignores unknown top-level keys.
// Errors name fields, never values.
func parseCredentials(plaintext []byte, credentialType string) (map[string]string, error) {
	var doc struct {
		CredentialData json.RawMessage `json:"credentialData"`
	}
	if err := json.Unmarshal(plaintext, &doc); err != nil {
		return nil, fmt.Errorf("credentials are not a credentials JSON document")
	}
	fields := map[string]string{}
	data := bytes.TrimSpace(doc.CredentialData)
	switch {
	case len(data) == 0 || string(data) == "null":
		return nil, fmt.Errorf("credentials: credentialData is missing")
	case string(data) == `""`:
		// the REST docs' Anonymous form
	default:
		var pairs []struct {
			Name  *string `json:"name"`
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(data, &pairs); err != nil {
			return nil, fmt.Errorf("credentials: credentialData is neither \"\" nor a list of name/value pairs")
		}
		for i, nv := range pairs {
			switch {
			case nv.Name == nil || nv.Value == nil:
				return nil, fmt.Errorf("credentials: credentialData[%d] needs a name and a value", i)
			case *nv.Value == "":
				return nil, fmt.Errorf("credentials: %s is empty", *nv.Name)
			}
			if _, dup := fields[*nv.Name]; dup {
				return nil, fmt.Errorf("credentials: %s appears twice", *nv.Name)
			}
			fields[*nv.Name] = *nv.Value
		}
	}
	want := credentialFields(credentialType)
	for _, name := range want {
		if _, ok := fields[name]; !ok {
			return nil, fmt.Errorf("credentials: %s credentials need %s (got %s)", credentialType, strings.Join(want, ", "), fieldNames(fields))
		}
	}
	for name := range fields {
		if !slices.Contains(want, name) {
			return nil, fmt.Errorf("credentials: %s credentials take %s, not %q", credentialType, orNone(want), clip(name, 40))
		}
	}
	return fields, nil
}

func fieldNames(fields map[string]string) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return orNone(names)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "no fields"
	}
	return strings.Join(names, ", ")
}
