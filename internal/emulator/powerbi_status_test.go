package emulator

import (
	"bytes"
	"cmp"
	"net/http"
	"strings"
	"testing"
)

// The docs' example and the SQL Server body of research/verify-status.md,
// with the exceptionCulprit every other pipeline error carries (the
// published SQL Server body, quoted from a CLI's output, drops it).
const (
	bodyGatewayUnreachable = `{"error":{"code":"DM_GWPipeline_Client_GatewayUnreachable","pbi.error":{"code":"DM_GWPipeline_Client_GatewayUnreachable","parameters":{},"details":[],"exceptionCulprit":1}}}`
	bodyNoCredential       = `{"error":{"code":"DM_GWPipeline_Gateway_InvalidConnectionCredentials","pbi.error":{"code":"DM_GWPipeline_Gateway_InvalidConnectionCredentials","parameters":{},"details":[],"exceptionCulprit":1}}}`
	bodyLoginFailedSvc     = `{"error":{"code":"DM_GWPipeline_Gateway_DataSourceAccessError","pbi.error":{"code":"DM_GWPipeline_Gateway_DataSourceAccessError","parameters":{},"details":[` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingErrorCode","detail":{"type":1,"value":"-2146232060"}},` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingErrorMessage","detail":{"type":1,"value":"Login failed for user 'svc'."}},` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingHResult","detail":{"type":1,"value":"-2146232060"}},` +
		`{"code":"DM_ErrorDetailNameCode_UnderlyingNativeErrorCode","detail":{"type":1,"value":"18456"}}],"exceptionCulprit":1}}}`
	cloudToken = "eyJ0.x.y"
)

// accessErrorBody is a DataSourceAccessError relaying a SqlException, as
// bodyLoginFailedSvc is.
func accessErrorBody(message, native string) string {
	r := strings.NewReplacer("Login failed for user 'svc'.", message, `"18456"`, `"`+native+`"`)
	return r.Replace(bodyLoginFailedSvc)
}

func TestPowerBIDatasourceStatus(t *testing.T) {
	svcOther := map[string]string{"username": "svc", "password": "0ther-pass"}
	tests := map[string]struct {
		opts   PowerBIOptions
		setup  func(f *pbiFixture) // after the gateway and data sources exist, before the check
		gw, ds string              // default: the on-premises data source
		status int
		body   string // exactly, compacted; "" with 200: empty
	}{
		"connects: backend takes what was pushed": {
			setup:  func(f *pbiFixture) { f.push() },
			status: 200,
		},
		"connects: backend takes exactly these fields": {
			setup: func(f *pbiFixture) {
				must(f.t, f.pbi.SetBackend(pbiGW, pbiDS, map[string]string{"username": "svc", "password": "Pa55-w0rd!"}))
				f.push()
			},
			status: 200,
		},
		"unknown data source": {
			ds: "00000000-0000-4000-8000-000000000000", status: 404,
		},
		"unknown gateway": {
			gw: "00000000-0000-4000-8000-000000000000", status: 404,
		},
		"gateway offline, though the PATCH went through": {
			setup: func(f *pbiFixture) {
				must(f.t, f.pbi.SetGatewayOnline(pbiGW, false))
				f.push()
			},
			status: 400, body: bodyGatewayUnreachable,
		},
		"gateway back online": {
			setup: func(f *pbiFixture) {
				must(f.t, f.pbi.SetGatewayOnline(pbiGW, false))
				f.push()
				must(f.t, f.pbi.SetGatewayOnline(pbiGW, true))
			},
			status: 200,
		},
		"no credential pushed yet": {
			status: 400, body: bodyNoCredential,
		},
		"database unreachable": {
			setup: func(f *pbiFixture) {
				f.push()
				must(f.t, f.pbi.SetBackendReachable(pbiGW, pbiDS, false))
			},
			status: 400, body: accessErrorBody("A network-related or instance-specific error occurred while establishing a connection to SQL Server. The server was not found or was not accessible.", "53"),
		},
		"login refused, naming the user and not the password": {
			setup: func(f *pbiFixture) {
				must(f.t, f.pbi.SetBackend(pbiGW, pbiDS, svcOther))
				f.push()
			},
			status: 400, body: bodyLoginFailedSvc,
		},
		"sampled out by VerifyEvery: taken to connect": {
			opts: PowerBIOptions{VerifyEvery: 2},
			setup: func(f *pbiFixture) {
				must(f.t, f.pbi.SetBackend(pbiGW, pbiDS, svcOther))
				f.push() // decrypted
				f.push() // stored unverified
			},
			status: 200,
		},
		"cloud: connects": {
			gw: cloudGW, ds: cloudDS,
			setup:  func(f *pbiFixture) { f.pushCloud() },
			status: 200,
		},
		"cloud: login refused, no user to name": {
			gw: cloudGW, ds: cloudDS,
			setup: func(f *pbiFixture) {
				must(f.t, f.pbi.SetBackend(cloudGW, cloudDS, map[string]string{"accessToken": "another"}))
				f.pushCloud()
			},
			status: 400, body: accessErrorBody("Login failed.", "18456"),
		},
		"throttled": {
			setup: func(f *pbiFixture) {
				f.push()
				f.pbi.Faults().Inject(OpGetDatasourceStatus, Fault{Status: 429, RetryAfter: "7", Times: 1})
			},
			status: 429,
			body:   `{"message":"You have exceeded the amount of requests allowed in the current time frame and further requests will fail."}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newPBIFixture(t, tc.opts)
			if tc.setup != nil {
				tc.setup(f)
			}
			gw, ds := cmp.Or(tc.gw, pbiGW), cmp.Or(tc.ds, pbiDS)
			path := "/gateways/" + gw + "/datasources/" + ds + "/status"
			status, hdr, body := f.do(http.MethodGet, path, "")
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			switch {
			case status == 200:
				if len(body) != 0 || hdr.Get("Content-Type") != "" {
					t.Errorf("200 with Content-Type %q and body %q, want neither", hdr.Get("Content-Type"), body)
				}
			case status == 404:
				if code, _ := pbiErr(t, body); code != CodeEntityNotFound {
					t.Errorf("code %s, want %s", code, CodeEntityNotFound)
				}
			default:
				if got := string(bytes.TrimSpace(body)); got != tc.body {
					t.Errorf("body\n%s\nwant\n%s", got, tc.body)
				}
			}
			if status == 429 && hdr.Get("Retry-After") != "7" {
				t.Errorf("Retry-After %q, want 7", hdr.Get("Retry-After"))
			}
			for _, pw := range []string{"Pa55-w0rd!", svcOther["password"], cloudToken, "another"} {
				if bytes.Contains(body, []byte(pw)) {
					t.Errorf("the answer holds a secret: %s", body)
				}
			}
			reqs := f.pbi.Requests()
			if last := reqs[len(reqs)-1]; last.Operation != OpGetDatasourceStatus || last.Status != status || last.Path != "/v1.0/myorg"+path {
				t.Errorf("recorded %+v", last)
			}
		})
	}
}

func TestPowerBIBackendUnknown(t *testing.T) {
	f := newPBIFixture(t, PowerBIOptions{})
	const none = "00000000-0000-4000-8000-000000000000"
	tests := map[string]error{
		"SetBackend: unknown data source":             f.pbi.SetBackend(pbiGW, none, nil),
		"SetBackend: unknown gateway":                 f.pbi.SetBackend(none, pbiDS, nil),
		"SetBackendReachable: unknown data source":    f.pbi.SetBackendReachable(pbiGW, none, false),
		"SetGatewayOnline: unknown gateway":           f.pbi.SetGatewayOnline(none, false),
		"SetGatewayOnline: cloud gateway is not real": f.pbi.SetGatewayOnline(cloudGW, false),
	}
	for name, err := range tests {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if status, _, _ := f.do(http.MethodPost, "/gateways/"+pbiGW+"/datasources/"+pbiDS+"/status", ""); status != 405 {
		t.Errorf("POST status: %d, want 405", status)
	}
}

// push PATCHes the Basic credential pbiBasic to the on-premises data source.
func (f *pbiFixture) push() {
	f.t.Helper()
	if status, _, body := f.do(http.MethodPatch, "/gateways/"+pbiGW+"/datasources/"+pbiDS, patchBody("Basic", f.encrypt(pbiBasic), "RSA-OAEP", "")); status != 200 {
		f.t.Fatalf("PATCH: %d %s", status, body)
	}
}

// pushCloud PATCHes an OAuth2 token to the cloud data source.
func (f *pbiFixture) pushCloud() {
	f.t.Helper()
	creds := `{"credentialData":[{"name":"accessToken","value":"` + cloudToken + `"}]}`
	if status, _, body := f.do(http.MethodPatch, "/gateways/"+cloudGW+"/datasources/"+cloudDS, patchBody("OAuth2", creds, "None", "")); status != 200 {
		f.t.Fatalf("PATCH: %d %s", status, body)
	}
}
