package connstatus

import "strings"

// The reasons a data source did not connect. They are metric label values.
const (
	// GatewayUnreachable: the gateway did not answer; the credential is not
	// to blame.
	GatewayUnreachable = "gateway_unreachable"
	// Rejected: the data source refused the login. The only reason that may
	// roll a credential back.
	Rejected = "rejected"
	// DatasourceUnreachable: the gateway could not reach the database; the
	// credential is not to blame.
	DatasourceUnreachable = "datasource_unreachable"
	// DatasourceError: the gateway could not use the data source for a
	// reason this package does not recognise.
	DatasourceError = "datasource_error"
)

// dataSourceAccessError is the gateway's code for any failure at the data
// source, a refused login and an unreachable server alike.
const dataSourceAccessError = "DM_GWPipeline_Gateway_DataSourceAccessError"

// byCode classifies the service's error codes that say why on their own.
func byCode(code string) string {
	switch code {
	case "DM_GWPipeline_Client_GatewayUnreachable",
		"DM_GWPipeline_Client_LoadBalancer_NoCandidateAvailable",
		"DMTS_GatewayIsDisabled":
		return GatewayUnreachable
	case "DM_GWPipeline_Gateway_InvalidConnectionCredentials",
		"DM_GWPipeline_Gateway_DatabaseLoginError",
		"DM_GWPipeline_Gateway_ImpersonationError",
		"DM_GWPipeline_Gateway_BadUsernameFormat",
		"IncorrectCredentials": // Fabric
		return Rejected
	case "DM_GWPipeline_Gateway_ServerUnreachable",
		"DM_GWPipeline_Gateway_TimeoutException":
		return DatasourceUnreachable
	}
	return ""
}

// byNativeCode classifies the databases' native error codes that tell a
// refused login from an unreachable server.
func byNativeCode(nativeCode string) string {
	switch normalise(nativeCode) {
	case "18456", // SQL Server: login failed
		"28P01", // PostgreSQL: invalid_password
		"28000", // PostgreSQL invalid_authorization_specification; Oracle ORA-28000, account locked
		"1017":  // Oracle ORA-01017: invalid username/password
		return Rejected
	case "53", // SQL Server: network path not found (named pipes)
		"10060", // WSAETIMEDOUT
		"10061", // WSAECONNREFUSED
		"11001", // WSAHOST_NOT_FOUND
		"-2":    // SqlClient: timeout expired
		return DatasourceUnreachable
	}
	return ""
}

// byMessage classifies an underlying message. The network phrases are
// looked for first: a message that says both is no evidence against the
// credential.
func byMessage(message string) string {
	m := strings.ToLower(message)
	switch {
	case containsAny(m, "network-related", "timeout", "timed out"):
		return DatasourceUnreachable
	case containsAny(m, "login failed", "password authentication failed", "ora-01017", "ora-28000"):
		return Rejected
	}
	return ""
}

// Classify returns why a data source did not connect, given the service's
// error code, the database's native error code and the underlying message
// (either may be empty): one of the reasons above, or "" when code is no
// connection failure this package knows, so that the caller classifies the
// failure by its HTTP status instead. A DataSourceAccessError is always
// classified, and is Rejected only on a native code or message that names a
// login failure; a native code it knows takes precedence over the message.
func Classify(code, nativeCode, message string) string {
	if r := byCode(code); r != "" {
		return r
	}
	switch code {
	case "DM_GWPipeline_UnknownError":
		// Fabric's testConnection answers a gateway that is gone this way.
		if strings.Contains(message, "GatewayNotFound") {
			return GatewayUnreachable
		}
		return ""
	case dataSourceAccessError:
		if r := byNativeCode(nativeCode); r != "" {
			return r
		}
		if r := byMessage(message); r != "" {
			return r
		}
		return DatasourceError
	}
	return ""
}

// normalise turns the forms a native code comes in ("ORA-01017", "01017",
// " 28p01") into the ones byNativeCode knows.
func normalise(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	c = strings.TrimPrefix(c, "ORA-")
	if t := strings.TrimLeft(c, "0"); t != "" {
		c = t
	}
	return c
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
