package connstatus

import "testing"

const access = "DM_GWPipeline_Gateway_DataSourceAccessError"

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		code, native, message string
		want                  string
	}{
		// The docs' example (research/verify-status.md).
		"gateway unreachable": {code: "DM_GWPipeline_Client_GatewayUnreachable", want: GatewayUnreachable},
		"no gateway in the cluster": {
			code: "DM_GWPipeline_Client_LoadBalancer_NoCandidateAvailable", want: GatewayUnreachable},
		"gateway disabled": {code: "DMTS_GatewayIsDisabled", want: GatewayUnreachable},
		"Fabric: gateway not found": {code: "DM_GWPipeline_UnknownError",
			message: "Gateway with id 'x' was not found. GatewayNotFound", want: GatewayUnreachable},
		"Fabric: unknown error, no gateway named": {code: "DM_GWPipeline_UnknownError", message: "Something", want: ""},

		"invalid connection credentials": {code: "DM_GWPipeline_Gateway_InvalidConnectionCredentials", want: Rejected},
		"database login error":           {code: "DM_GWPipeline_Gateway_DatabaseLoginError", want: Rejected},
		"impersonation error":            {code: "DM_GWPipeline_Gateway_ImpersonationError", want: Rejected},
		"bad username format":            {code: "DM_GWPipeline_Gateway_BadUsernameFormat", want: Rejected},
		"Fabric: incorrect credentials":  {code: "IncorrectCredentials", want: Rejected},

		// microsoft/PowerBI-Cli#27.
		"SQL Server login failed": {code: access, native: "18456",
			message: "Login failed for user 'admin'.", want: Rejected},
		"SQL Server 18456 alone":      {code: access, native: "18456", want: Rejected},
		"PostgreSQL invalid password": {code: access, native: "28P01", want: Rejected},
		"PostgreSQL lower case":       {code: access, native: "28p01", want: Rejected},
		"PostgreSQL authorization":    {code: access, native: "28000", want: Rejected},
		"Oracle ORA-01017":            {code: access, native: "ORA-01017", want: Rejected},
		"Oracle 01017":                {code: access, native: "01017", want: Rejected},
		"Oracle 1017":                 {code: access, native: "1017", want: Rejected},
		"Oracle ORA-28000":            {code: access, native: "ORA-28000", want: Rejected},
		"login failed by message": {code: access, native: "18470",
			message: "Login failed for user 'svc'. Reason: The account is disabled.", want: Rejected},
		"PostgreSQL by message": {code: access,
			message: `FATAL: PASSWORD AUTHENTICATION FAILED for user "svc"`, want: Rejected},

		"server unreachable": {code: "DM_GWPipeline_Gateway_ServerUnreachable", want: DatasourceUnreachable},
		"timeout exception":  {code: "DM_GWPipeline_Gateway_TimeoutException", want: DatasourceUnreachable},
		"named pipes": {code: access, native: "53",
			message: "A network-related or instance-specific error occurred while establishing a connection to SQL Server.",
			want:    DatasourceUnreachable},
		"TCP timeout":       {code: access, native: "10060", want: DatasourceUnreachable},
		"refused":           {code: access, native: "10061", want: DatasourceUnreachable},
		"host not found":    {code: access, native: "11001", want: DatasourceUnreachable},
		"SqlClient timeout": {code: access, native: "-2", want: DatasourceUnreachable},
		"native code wins over the message": {code: access, native: "53",
			message: "Login failed for user 'admin'.", want: DatasourceUnreachable},
		"login native code wins over a network message": {code: access, native: "18456",
			message: "network-related", want: Rejected},
		"network by message":   {code: access, message: "A network-related error occurred", want: DatasourceUnreachable},
		"timed out by message": {code: access, message: "The operation Timed Out.", want: DatasourceUnreachable},
		"both phrases: not rejected": {code: access,
			message: "Login failed: connection timeout", want: DatasourceUnreachable},

		"unknown access error":         {code: access, native: "4242", message: "Something else", want: DatasourceError},
		"access error without details": {code: access, want: DatasourceError},
		"HResult alone says nothing":   {code: access, native: "-2146232060", want: DatasourceError},
		"unknown pipeline code":        {code: "DM_GWPipeline_Gateway_SomethingNew", want: ""},
		"no code":                      {native: "18456", message: "Login failed", want: ""},
		"not a connection failure":     {code: "DMTS_EntityNotFoundError", want: ""},
		"codes are matched exactly":    {code: "dm_gwpipeline_client_gatewayunreachable", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Classify(tc.code, tc.native, tc.message); got != tc.want {
				t.Errorf("Classify(%q, %q, %q) = %q, want %q", tc.code, tc.native, tc.message, got, tc.want)
			}
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(access, "18456", "Login failed for user 'admin'.")
	f.Add(access, "53", "A network-related or instance-specific error occurred")
	f.Add("DM_GWPipeline_Client_GatewayUnreachable", "", "")
	f.Add("DM_GWPipeline_UnknownError", "", "GatewayNotFound")
	f.Add("IncorrectCredentials", "ORA-01017", "password authentication failed")
	f.Fuzz(func(t *testing.T, code, native, message string) {
		switch got := Classify(code, native, message); got {
		case "", GatewayUnreachable, Rejected, DatasourceUnreachable, DatasourceError:
		default:
			t.Fatalf("Classify(%q, %q, %q) = %q, no reason", code, native, message, got)
		}
		if got := Classify(access, "53", message); got != DatasourceUnreachable {
			t.Fatalf("native 53 with message %q: %q, want %q", message, got, DatasourceUnreachable)
		}
		if got := Classify(access, native, message); got == "" {
			t.Fatalf("DataSourceAccessError (%q, %q) unclassified", native, message)
		}
	})
}
