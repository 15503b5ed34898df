package rotate

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/connstatus"
	"github.com/rotatord/rotatord/internal/pbi"
)

const opStatusID = "Gateways_GetDatasourceStatus"

func statusError(code, native string) *pbi.Error {
	return &pbi.Error{Operation: opStatusID, StatusCode: http.StatusBadRequest, Code: code, NativeCode: native}
}

func accepts(password string) map[string]string {
	return map[string]string{"username": "svc", "password": password}
}

// TestVerifyAndRollback: after v1 was pushed and verified, v2 is pushed; what
// the data source and Power BI answer decides whether the rotation fails, at
// which stage and why, whether a rollback runs, what it says, and which
// password the gateway holds at the end.
func TestVerifyAndRollback(t *testing.T) {
	tests := map[string]struct {
		extra   string
		backend map[string]string // what the database accepts once v2 is out; nil: anything
		faults  map[string][]error
		// previous: v1's rotation is not recorded as verified.
		noPrevious bool

		reason     string // "" for success
		stage      Stage
		rollback   string
		holds      string // the password in Power BI at the end
		version    string // Result.SourceVersion
		verified   string // Result.VerifiedVersion
		conclusive bool
	}{
		"connects": {backend: nil, holds: "second-password", version: "v2", verified: "v2", conclusive: true},
		"rejected, no rollback": {backend: accepts("first-password"),
			reason: connstatus.Rejected, stage: StageVerify, holds: "second-password", version: "v2", conclusive: true},
		"rejected, rollback restores v1": {extra: "    rollback: true\n", backend: accepts("first-password"),
			reason: connstatus.Rejected, stage: StageVerify, rollback: RollbackRestored, holds: "first-password", version: "v1", verified: "v1", conclusive: true},
		"rejected, v1 rejected too: v2 goes back": {extra: "    rollback: true\n", backend: accepts("third-password"),
			reason: connstatus.Rejected, stage: StageVerify, rollback: RollbackRejected, holds: "second-password", version: "v2", conclusive: true},
		"rejected, nothing verified before": {extra: "    rollback: true\n", backend: accepts("first-password"), noPrevious: true,
			reason: connstatus.Rejected, stage: StageVerify, rollback: RollbackUnavailable, holds: "second-password", version: "v2", conclusive: true},
		"rejected, the rollback's PATCH fails": {extra: "    rollback: true\n", backend: accepts("first-password"),
			faults: map[string][]error{opUpdate: {nil, &pbi.Error{Operation: opUpdate, StatusCode: http.StatusServiceUnavailable}}},
			reason: connstatus.Rejected, stage: StageVerify, rollback: RollbackFailed, holds: "second-password", version: "v2", conclusive: true},
		"rejected, the rollback's check is throttled: v1 stays": {extra: "    rollback: true\n", backend: accepts("first-password"),
			faults: map[string][]error{opStatus: {nil, &pbi.Error{Operation: opStatusID, StatusCode: http.StatusTooManyRequests}}},
			reason: connstatus.Rejected, stage: StageVerify, rollback: RollbackFailed, holds: "first-password", version: "v1", conclusive: true},
		"gateway offline: the credential is not to blame": {extra: "    rollback: true\n",
			faults: map[string][]error{opStatus: {statusError("DM_GWPipeline_Client_GatewayUnreachable", "")}},
			reason: connstatus.GatewayUnreachable, stage: StageVerify, holds: "second-password", version: "v2", conclusive: true},
		"database unreachable: no rollback": {extra: "    rollback: true\n",
			faults: map[string][]error{opStatus: {statusError("DM_GWPipeline_Gateway_DataSourceAccessError", "53")}},
			reason: connstatus.DatasourceUnreachable, stage: StageVerify, holds: "second-password", version: "v2", conclusive: true},
		"status call throttled: says nothing": {extra: "    rollback: true\n",
			faults: map[string][]error{opStatus: {&pbi.Error{Operation: opStatusID, StatusCode: http.StatusTooManyRequests}}},
			reason: "throttled", stage: StageVerify, holds: "second-password", version: "v2"},
		"verify off: no status call": {extra: "    verify: false\n", backend: accepts("first-password"),
			holds: "second-password", version: "v2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, tc.extra)
			f.pbi.setBackend(dsID, accepts("first-password"))
			if _, err := f.rotate(); err != nil && !tc.noPrevious {
				t.Fatal(err)
			}
			if tc.noPrevious {
				delete(f.verified, "sales-sql")
			}
			f.setPassword("second-password", "v2")
			f.pbi.setBackend(dsID, tc.backend)
			for op, errs := range tc.faults {
				f.pbi.fail(op, errs...)
			}
			res, err := f.rotate()

			var re *Error
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("rotation failed: %v", err)
			case tc.reason != "" && (!errors.As(err, &re) || re.Stage != tc.stage || re.Reason != tc.reason):
				t.Fatalf("err = %v, want stage %s reason %s", err, tc.stage, tc.reason)
			}
			if res.Rollback != tc.rollback {
				t.Errorf("rollback %q, want %q (rollback error: %v)", res.Rollback, tc.rollback, res.RollbackErr)
			}
			if got := f.password(); got != tc.holds {
				t.Errorf("the gateway holds %q, want %q", got, tc.holds)
			}
			if res.SourceVersion != tc.version || res.VerifiedVersion != tc.verified {
				t.Errorf("source version %q, verified %q; want %q, %q", res.SourceVersion, res.VerifiedVersion, tc.version, tc.verified)
			}
			if verify := tc.extra != "    verify: false\n"; verify == res.Check.At.IsZero() {
				t.Errorf("check at %v with verify %v", res.Check.At, verify)
			} else if verify && res.Check.Conclusive() != tc.conclusive {
				t.Errorf("check %+v conclusive %v, want %v", res.Check, res.Check.Conclusive(), tc.conclusive)
			}
			if tc.stage == StageVerify && f.pbi.count(opGetUsers) != 0 {
				t.Error("users were reconciled after the credential failed to connect")
			}
		})
	}
}

// TestVerifyWithSkipUnchanged: a skipped PATCH is still checked, and a
// refusal then rolls nothing back: nothing new was pushed.
func TestVerifyWithSkipUnchanged(t *testing.T) {
	f := newFake(t, "    skip_unchanged: true\n    rollback: true\n")
	if _, err := f.rotate(); err != nil {
		t.Fatal(err)
	}
	f.pbi.setBackend(dsID, accepts("changed-at-the-database"))
	res, err := f.rotate()
	var re *Error
	if !errors.As(err, &re) || re.Reason != connstatus.Rejected || res.Patched || res.Rollback != "" {
		t.Fatalf("patched %v rollback %q err %v; want a rejected check, no PATCH and no rollback", res.Patched, res.Rollback, err)
	}
	if n := f.pbi.count(opUpdate); n != 1 {
		t.Errorf("%d PATCHes, want 1", n)
	}
}

// TestPlanChecks: plan reports whether the credential held now connects,
// without failing for it and without writing.
func TestPlanChecks(t *testing.T) {
	f := newFake(t, "")
	if _, err := f.rotate(); err != nil {
		t.Fatal(err)
	}
	f.pbi.setBackend(dsID, accepts("changed-at-the-database"))
	ds, _ := f.cfg.Datasource("sales-sql")
	p, err := f.rot.Plan(context.Background(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if p.Check == nil || p.Check.Reason != connstatus.Rejected {
		t.Fatalf("plan check %+v, want rejected", p.Check)
	}
	if n := f.pbi.count(opUpdate); n != 1 {
		t.Errorf("plan wrote: %d PATCHes", n)
	}
}

func TestSplitVersions(t *testing.T) {
	const inv = `keyvaults: {main: https://fake.vault.azure.net/}
datasources:
  - name: hr
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 252b9de8-d915-4788-aaeb-ec8c2395f970
    credential_type: Windows
    encrypt: gateway
    source: {keyvault: main, username_secret: hr-user, password_secret: hr-password}
  - name: sql
    gateway_id: 1f69e798-5852-4fdd-ab01-33bb14b6e934
    datasource_id: 352b9de8-d915-4788-aaeb-ec8c2395f970
    credential_type: Basic
    encrypt: gateway
    source: {keyvault: main, username: svc, password_secret: db-password}
`
	cfg, err := config.Parse("inventory.yaml", []byte(inv))
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := cfg.Datasource("hr")
	sql, _ := cfg.Datasource("sql")
	tests := []struct {
		ds     config.Datasource
		joined string
		want   map[string]string // nil: not ok
	}{
		{hr, "u1,p1", map[string]string{"username": "u1", "password": "p1"}},
		{sql, "p1", map[string]string{"password": "p1"}},
		{hr, "p1", nil},
		{sql, "u1,p1", nil},
		{hr, "u1,", nil},
		{sql, "", nil},
	}
	for _, tc := range tests {
		got, ok := splitVersions(tc.ds, tc.joined)
		if ok != (tc.want != nil) || ok && len(got) != len(tc.want) {
			t.Errorf("%s %q: %v %v, want %v", tc.ds.Name, tc.joined, got, ok, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s %q: %s=%q, want %q", tc.ds.Name, tc.joined, k, got[k], v)
			}
		}
	}
}
