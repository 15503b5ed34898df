package emulator

import (
	"net/http"
	"testing"
)

// TestPowerBIVerifyEvery: with VerifyEvery 3 the first and every third
// encrypted PATCH is decrypted; the others are stored unverified, yet a body
// off the schema or without base64 ciphertext is still refused, and cloud
// credentials are always parsed.
func TestPowerBIVerifyEvery(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{VerifyEvery: 3})
	onPrem := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	good := patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", "")
	// Decrypts fine but lacks the password: caught only when sampled.
	wrongFields := patchBody("Basic", f.encrypt(`{"credentialData":[{"name":"username","value":"svc"}]}`), "RSA-OAEP", "")

	steps := []struct {
		name       string
		path, body string
		status     int
		unverified bool // of the stored credential, when status is 200
	}{
		{"1st encrypted: verified", onPrem, good, 200, false},
		{"2nd encrypted: sampled out", onPrem, wrongFields, 200, true},
		{"3rd encrypted: sampled out", onPrem, good, 200, true},
		{"4th encrypted: verified, so refused", onPrem, wrongFields, 400, false},
		{"not base64, never sampled", onPrem, patchBody("Basic", "not base64!", "RSA-OAEP", ""), 400, false},
		{"off the schema", onPrem, `{"credentialDetails":{"credentialType":"Basic"}}`, 400, false},
		{"cloud: always parsed", "/gateways/" + cloudGW + "/datasources/" + cloudDS,
			patchBody("OAuth2", `{"credentialData":[{"name":"accessToken","value":"eyJ0.x.y"}]}`, "None", ""), 200, false},
	}
	stored := 0
	for _, s := range steps {
		status, _, body := f.do(http.MethodPatch, s.path, s.body)
		if status != s.status {
			t.Fatalf("%s: status %d, want %d (%s)", s.name, status, s.status, body)
		}
		if status != 200 {
			continue
		}
		stored++
		gw, ds := pbiGW, pbiDS
		if s.path != onPrem {
			gw, ds = cloudGW, cloudDS
		}
		got, _ := f.pbi.Credential(gw, ds)
		if got.Unverified != s.unverified || (got.Fields == nil) != s.unverified {
			t.Errorf("%s: stored Unverified=%v with fields %v", s.name, got.Unverified, got.Fields != nil)
		}
	}
	if n := len(f.pbi.History(pbiGW, pbiDS)) + len(f.pbi.History(cloudGW, cloudDS)); n != stored {
		t.Errorf("%d credentials stored, want %d", n, stored)
	}
}

func TestBase64Text(t *testing.T) {
	tests := map[string]bool{
		"":                      false,
		"QUJD":                  true,
		"QUI=QUJDRA==":          true, // hybrid: two padded base64 texts back to back
		"QUJD\n":                false,
		"not base64!":           false,
		`{"credentialData":""}`: false,
		"AAAA-_":                false, // URL alphabet
	}
	for in, want := range tests {
		if got := base64Text(in); got != want {
			t.Errorf("base64Text(%q) = %v, want %v", in, got, want)
		}
	}
}
