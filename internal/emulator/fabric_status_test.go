package emulator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/connstatus"
)

// fabStatus is a ConnectionStatusResponse.
type fabStatus struct {
	Status string `json:"status"`
	Errors []struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	} `json:"errors"`
}

// reason classifies an Offline status as rotatord does: "" when Online.
func (s fabStatus) reason(t *testing.T) string {
	t.Helper()
	switch {
	case s.Status == "Online" && len(s.Errors) == 0:
		return ""
	case s.Status != "Offline" || len(s.Errors) != 1:
		t.Fatalf("status %+v: want Online with no errors or Offline with one", s)
	}
	return connstatus.Classify(s.Errors[0].ErrorCode, "", s.Errors[0].Message)
}

func (f *fabFixture) testConnection(id string) fabStatus {
	f.t.Helper()
	b, _ := f.want("POST", "/connections/"+id+"/testConnection", "", 200, "")
	var s fabStatus
	must(f.t, json.Unmarshal(b, &s))
	return s
}

func TestFabricTestConnection(t *testing.T) {
	basic := func(password string) string {
		return updateBody(FabricVirtualNetworkGateway, map[string]string{"credentialType": "Basic", "username": "svc", "password": password}, "true")
	}
	sp := updateBody(FabricShareableCloud, map[string]string{"credentialType": "ServicePrincipal", "tenantId": fabTenant, "servicePrincipalClientId": fabClient, "servicePrincipalSecret": "s3cret~"}, "true")
	tests := map[string]struct {
		conn   string
		setup  func(f *fabFixture)
		code   string // of the one error; "" Online
		reason string // connstatus's classification
		msgHas string
	}{
		"online: the backend takes what was pushed": {
			conn: fabVNet, setup: func(f *fabFixture) { f.want("PATCH", "/connections/"+fabVNet, basic(fabPassword), 200, "") },
		},
		"online: the backend takes exactly these fields": {
			conn: fabVNet, setup: func(f *fabFixture) {
				must(f.t, f.fab.SetConnectionBackend(fabVNet, map[string]string{"username": "svc", "password": fabPassword}))
				f.want("PATCH", "/connections/"+fabVNet, basic(fabPassword), 200, "")
			},
		},
		"login refused through a gateway": {
			conn: fabVNet, setup: func(f *fabFixture) {
				must(f.t, f.fab.SetConnectionBackend(fabVNet, map[string]string{"username": "svc", "password": "changed"}))
				f.want("PATCH", "/connections/"+fabVNet, basic(fabPassword), 200, "")
			},
			code: CodeDataSourceAccessError, reason: connstatus.Rejected, msgHas: "Login failed for user 'svc'.",
		},
		"login refused in the cloud": {
			conn: fabCloud, setup: func(f *fabFixture) {
				must(f.t, f.fab.SetConnectionBackend(fabCloud, map[string]string{"tenantId": fabTenant}))
				f.want("PATCH", "/connections/"+fabCloud, sp, 200, "")
			},
			code: FabricCodeIncorrectCredentials, reason: connstatus.Rejected, msgHas: fabClient,
		},
		"no credential pushed yet": {
			conn: fabVNet, code: CodeDataSourceAccessError, reason: connstatus.Rejected,
		},
		"data source unreachable": {
			conn: fabVNet, setup: func(f *fabFixture) {
				f.want("PATCH", "/connections/"+fabVNet, basic(fabPassword), 200, "")
				must(f.t, f.fab.SetConnectionReachable(fabVNet, false))
			},
			code: CodeDataSourceAccessError, reason: connstatus.DatasourceUnreachable, msgHas: "network-related",
		},
		"gateway offline": {
			conn: fabVNet, setup: func(f *fabFixture) {
				f.want("PATCH", "/connections/"+fabVNet, basic(fabPassword), 200, "")
				must(f.t, f.fab.SetGatewayOnline(fabVNetGW, false))
			},
			code: FabricCodeGatewayUnknownError, reason: connstatus.GatewayUnreachable, msgHas: "GatewayNotFound",
		},
		"gateway back online": {
			conn: fabVNet, setup: func(f *fabFixture) {
				must(f.t, f.fab.SetGatewayOnline(fabVNetGW, false))
				f.want("PATCH", "/connections/"+fabVNet, basic(fabPassword), 200, "")
				must(f.t, f.fab.SetGatewayOnline(fabVNetGW, true))
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newCloudFixture(t, FabricOptions{})
			if tc.setup != nil {
				tc.setup(f)
			}
			s := f.testConnection(tc.conn)
			if got := s.reason(t); got != tc.reason {
				t.Errorf("classified %q, want %q: %+v", got, tc.reason, s)
			}
			if tc.code == "" {
				return
			}
			if s.Errors[0].ErrorCode != tc.code || !strings.Contains(s.Errors[0].Message, tc.msgHas) {
				t.Errorf("error %+v, want code %s and a message with %q", s.Errors[0], tc.code, tc.msgHas)
			}
			if strings.Contains(s.Errors[0].Message, fabPassword) || strings.Contains(s.Errors[0].Message, "s3cret") {
				t.Errorf("message holds the secret: %q", s.Errors[0].Message)
			}
		})
	}
	t.Run("streaming connections are not tested", func(t *testing.T) {
		f := newCloudFixture(t, FabricOptions{})
		f.want("POST", "/connections/"+fabStream+"/testConnection", "", 400, FabricCodeUnsupportedConnectivityType)
		f.want("POST", "/connections/00000000-0000-4000-8000-000000000000/testConnection", "", 404, FabricCodeEntityNotFound)
		f.want("GET", "/connections/"+fabVNet+"/testConnection", "", 405, FabricCodeMethodNotAllowed)
	})
}

// TestFabricTestConnectionOnPremises: the stored credentialData of a
// cluster, tested through its gateway; the spec's offline answer when the
// gateway is gone.
func TestFabricTestConnectionOnPremises(t *testing.T) {
	f := newFabFixture(t, FabricOptions{})
	must(t, f.fab.SetConnectionBackend(fabOnPrem, map[string]string{"username": "svc", "password": fabPassword}))
	f.want("PATCH", "/connections/"+fabOnPrem, clusterBody("Basic", f.clusterValues(fabGW, fabBasic)), 200, "")
	if s := f.testConnection(fabOnPrem); s.reason(t) != "" {
		t.Errorf("status %+v", s)
	}
	must(t, f.fab.SetConnectionBackend(fabOnPrem, map[string]string{"username": "svc", "password": "rotated-behind-our-back"}))
	if s := f.testConnection(fabOnPrem); s.reason(t) != connstatus.Rejected {
		t.Errorf("status %+v", s)
	}
	must(t, f.fab.SetGatewayOnline(fabGW, false))
	b, _ := f.want("POST", "/connections/"+fabOnPrem+"/testConnection", "", 200, "")
	const offline = `{"status":"Offline","errors":[{"errorCode":"DM_GWPipeline_UnknownError","message":"Error response with StatusCode: BadRequest, ErrorCode: GatewayNotFound, ErrorMessage: 'GatewayContainer does not exist'"}]}`
	if !jsonEqual(t, b, offline) {
		t.Errorf("got %s\nwant the spec's TestConnectionOffline.json answer %s", b, offline)
	}
}

func jsonEqual(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	must(t, json.Unmarshal(a, &x))
	must(t, json.Unmarshal([]byte(b), &y))
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestFabricTestConnectionLongRunning(t *testing.T) {
	f := newCloudFixture(t, FabricOptions{})
	f.want("PATCH", "/connections/"+fabVNet, updateBody(FabricVirtualNetworkGateway, map[string]string{"credentialType": "Basic", "username": "svc", "password": fabPassword}, "true"), 200, "")
	must(t, f.fab.SetTestMode(fabVNet, 3))
	status, hdr, body := f.do("POST", "/connections/"+fabVNet+"/testConnection", "")
	if status != 202 || len(body) != 0 {
		t.Fatalf("%d %s: want 202 without a body", status, body)
	}
	opID := hdr.Get("x-ms-operation-id")
	if !validUUID(opID) || hdr.Get("Location") != f.base+"/operations/"+opID || hdr.Get("Retry-After") != "1" {
		t.Fatalf("headers %v", hdr)
	}
	// The backend changes after the test started: the result is the test's.
	must(t, f.fab.SetConnectionBackend(fabVNet, map[string]string{"username": "svc", "password": "other"}))
	state := func() (string, map[string]any) {
		t.Helper()
		_, h, b := f.do("GET", hdr.Get("Location"), "")
		var st map[string]any
		must(t, json.Unmarshal(b, &st))
		if h.Get("x-ms-operation-id") != opID {
			t.Errorf("state headers %v", h)
		}
		return h.Get("Location"), st
	}
	for i := range 2 {
		loc, st := state()
		if st["status"] != "Running" || loc != hdr.Get("Location") {
			t.Fatalf("poll %d: %v, Location %s", i+1, st, loc)
		}
		f.want("GET", "/operations/"+opID+"/result", "", 400, FabricCodeOperationNotSucceeded)
	}
	loc, st := state()
	if st["status"] != "Succeeded" || st["percentComplete"] != 100.0 || loc != f.base+"/operations/"+opID+"/result" {
		t.Fatalf("poll 3: %v, Location %s", st, loc)
	}
	b, _ := f.want("GET", loc, "", 200, "")
	if !jsonEqual(t, b, `{"status":"Online","errors":[]}`) {
		t.Errorf("result %s", b)
	}
	if _, st := state(); st["status"] != "Succeeded" {
		t.Errorf("a succeeded operation went back to %v", st)
	}
	// polls 1: the first poll succeeds; each test is its own operation.
	must(t, f.fab.SetTestMode(fabVNet, 1))
	_, hdr2, _ := f.do("POST", "/connections/"+fabVNet+"/testConnection", "")
	if hdr2.Get("x-ms-operation-id") == opID {
		t.Error("two tests share an operation")
	}
	_, h, b := f.do("GET", hdr2.Get("Location"), "")
	if !strings.Contains(string(b), `"status":"Succeeded"`) {
		t.Errorf("polls 1, first poll: %s", b)
	}
	b, _ = f.want("GET", h.Get("Location"), "", 200, "")
	var s fabStatus
	must(t, json.Unmarshal(b, &s))
	if s.reason(t) != connstatus.Rejected {
		t.Errorf("result %s", b)
	}
	f.want("GET", "/operations/00000000-0000-4000-8000-000000000000", "", 404, FabricCodeEntityNotFound)
	f.want("GET", "/operations/00000000-0000-4000-8000-000000000000/result", "", 404, FabricCodeEntityNotFound)
	// Back to answering at once.
	must(t, f.fab.SetTestMode(fabVNet, 0))
	f.want("POST", "/connections/"+fabVNet+"/testConnection", "", 200, "")
}
