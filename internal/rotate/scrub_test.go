package rotate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/sources"
)

// TestFailureTextIsScrubbed: whatever a call's error says, the rotation's
// error text holds none of its secret values, and errors.As still finds
// the error that classifies the failure.
func TestFailureTextIsScrubbed(t *testing.T) {
	const pw = "first-password" // newFake's password
	tests := map[string]struct {
		op     string // fakePowerBI operation that fails
		err    error  // how
		stage  Stage
		reason string
	}{
		"PATCH": {opUpdate, &pbi.Error{Operation: opUpdate, StatusCode: http.StatusForbidden, Message: "bad " + pw},
			StagePatch, "http_403"},
		"Add Datasource User": {opAddUser, &pbi.Error{Operation: opAddUser, StatusCode: http.StatusForbidden,
			Err: fmt.Errorf(`echo {\"password\":\"%s\"}`, pw)}, StageUsers, "http_403"},
		"a wrapped source error": {opGetGateway, fmt.Errorf("wrapped: %w", &sources.Error{Source: sources.SourceEntra,
			Reason: sources.ReasonUnavailable, Err: errors.New("token endpoint said " + pw)}), StageEncrypt, sources.ReasonUnavailable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "    users:\n      - {email: john@contoso.com, access: Read}\n")
			f.pbi.fail(tc.op, tc.err)
			_, err := f.rotate()
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range []string{err.Error(), fmt.Sprint(err), fmt.Sprintf("%+v", err)} {
				if strings.Contains(s, pw) {
					t.Errorf("error text holds the password: %s", s)
				}
			}
			if !strings.Contains(err.Error(), "REDACTED") {
				t.Errorf("error text %q does not say what was cut", err)
			}
			var re *Error
			if !errors.As(err, &re) || re.Stage != tc.stage || re.Reason != tc.reason {
				t.Fatalf("error %v: want stage %s reason %s", err, tc.stage, tc.reason)
			}
			if d := re.Detail(); strings.Contains(d, pw) {
				t.Errorf("Detail holds the password: %s", d)
			}
			var pe *pbi.Error
			var se *sources.Error
			if !errors.As(err, &pe) && !errors.As(err, &se) {
				t.Errorf("errors.As finds neither the *pbi.Error nor the *sources.Error in %v", err)
			}
		})
	}
}

// Plan's error is scrubbed as Rotate's is: plan prints it.
func TestPlanFailureTextIsScrubbed(t *testing.T) {
	const pw = "first-password"
	f := newFake(t, "    users:\n      - {email: john@contoso.com, access: Read}\n")
	f.pbi.fail(opGetUsers, &pbi.Error{Operation: opGetUsers, StatusCode: http.StatusBadRequest, Message: "users of " + pw})
	ds, _ := f.cfg.Datasource("sales-sql")
	_, err := f.rot.Plan(context.Background(), ds)
	var re *Error
	if !errors.As(err, &re) || re.Stage != StageUsers {
		t.Fatalf("Plan: %v, want a users failure", err)
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(re.Detail(), pw) {
		t.Errorf("Plan's error holds the password: %v", err)
	}
}
