package emulator

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
)

// SQL Server's answers, as the gateway relays them in the details of a
// DataSourceAccessError: HResult 0x80131904 (SqlException) is common to a
// refused login and an unreachable server; the native code tells them apart.
const (
	sqlExceptionHResult = "-2146232060"
	sqlNativeLogin      = "18456"
	sqlNativeNetwork    = "53"
	sqlNetworkMessage   = "A network-related or instance-specific error occurred while establishing a connection to SQL Server. The server was not found or was not accessible."
)

// SetBackend sets the credential fields (Power BI's names, as in
// Received.Fields) that the database behind a data source accepts; the
// status check answers that the login failed for any other. nil, the
// default, accepts whatever was pushed last.
func (p *PowerBI) SetBackend(gatewayID, datasourceID string, accept map[string]string) error {
	return p.editDatasource(gatewayID, datasourceID, func(d *pbiDatasource) { d.accept = maps.Clone(accept) })
}

// SetBackendReachable sets whether the gateway can reach the database behind
// a data source; an unreachable one fails the status check with SQL
// Server's network error, whatever the credential.
func (p *PowerBI) SetBackendReachable(gatewayID, datasourceID string, reachable bool) error {
	return p.editDatasource(gatewayID, datasourceID, func(d *pbiDatasource) { d.unreachable = !reachable })
}

// editDatasource runs edit on a data source under the lock.
func (p *PowerBI) editDatasource(gatewayID, datasourceID string, edit func(*pbiDatasource)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.datasources[keyOf(gatewayID, datasourceID)]
	if d == nil {
		return fmt.Errorf("emulator: no data source %s/%s", gatewayID, datasourceID)
	}
	edit(d)
	return nil
}

// SetGatewayOnline sets whether a gateway answers. An offline gateway fails
// the status check of its data sources with GatewayUnreachable, while
// PATCHes still succeed: Power BI stores credentials without the gateway.
// Cloud data sources have no gateway to take offline: their gateway id is
// an error here.
func (p *PowerBI) SetGatewayOnline(gatewayID string, online bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.gateways[strings.ToLower(gatewayID)]
	if g == nil {
		return fmt.Errorf("emulator: no gateway %s", gatewayID)
	}
	g.offline = !online
	return nil
}

// statusAnswer is what a status check found: a 200 when code is "".
type statusAnswer struct {
	status  int
	code    string
	details []pbiErrorDetail
}

// serveStatus answers Get Datasource Status as the gateway would after
// trying to connect with the stored credential: an empty 200 when it
// connects, else a 400 whose details carry the database's own error.
func (p *PowerBI) serveStatus(w http.ResponseWriter, rt pbiRoute) {
	p.mu.Lock()
	a := p.statusLocked(keyOf(rt.gatewayID, rt.dsID))
	p.mu.Unlock()
	switch {
	case a.code == "":
		w.WriteHeader(http.StatusOK) // no body at all, as the real service
	case a.status == http.StatusNotFound:
		pbiError(w, a.status, a.code, "")
	default:
		gatewayError(w, a.status, a.code, a.details)
	}
}

// statusLocked decides the status check of a data source, in the order
// the checks happen: the data source, the gateway, a credential to try,
// the network, then the login. A credential VerifyEvery stored unverified
// has no Fields to compare, so it is taken to connect.
func (p *PowerBI) statusLocked(k pbiKey) statusAnswer {
	d := p.datasources[k]
	if d == nil {
		return statusAnswer{status: http.StatusNotFound, code: CodeEntityNotFound}
	}
	if g := p.gateways[k.gateway]; g != nil && g.offline {
		return statusAnswer{status: http.StatusBadRequest, code: CodeGatewayUnreachable}
	}
	n := len(d.history)
	if n == 0 {
		return statusAnswer{status: http.StatusBadRequest, code: CodeInvalidCredentials}
	}
	if d.unreachable {
		return statusAnswer{status: http.StatusBadRequest, code: CodeDataSourceAccessError,
			details: sqlErrorDetails(sqlNetworkMessage, sqlNativeNetwork)}
	}
	last := d.history[n-1]
	if last.Unverified || d.accept == nil || maps.Equal(last.Fields, d.accept) {
		return statusAnswer{status: http.StatusOK}
	}
	// SQL Server names the user it refused, never the password.
	msg := "Login failed."
	if u, ok := last.Fields["username"]; ok {
		msg = "Login failed for user '" + u + "'."
	}
	return statusAnswer{status: http.StatusBadRequest, code: CodeDataSourceAccessError,
		details: sqlErrorDetails(msg, sqlNativeLogin)}
}

// sqlErrorDetails are the details of a SqlException relayed by the
// gateway, in the order the real service lists them.
func sqlErrorDetails(message, native string) []pbiErrorDetail {
	return []pbiErrorDetail{
		errorDetail("DM_ErrorDetailNameCode_UnderlyingErrorCode", sqlExceptionHResult),
		errorDetail("DM_ErrorDetailNameCode_UnderlyingErrorMessage", message),
		errorDetail("DM_ErrorDetailNameCode_UnderlyingHResult", sqlExceptionHResult),
		errorDetail("DM_ErrorDetailNameCode_UnderlyingNativeErrorCode", native),
	}
}

func errorDetail(code, value string) pbiErrorDetail {
	var d pbiErrorDetail
	d.Code = code
	d.Detail.Type = 1
	d.Detail.Value = value
	return d
}

// gatewayError writes the gateway pipeline's error envelope: no
// error.message, the reasons in pbi.error.details only.
func gatewayError(w http.ResponseWriter, status int, code string, details []pbiErrorDetail) {
	if details == nil {
		details = []pbiErrorDetail{}
	}
	writePBIError(w, status, pbiErrorBody{Error: pbiErrorInner{Code: code,
		PBI: pbiErrorPBI{Code: code, Parameters: map[string]string{}, Details: details, ExceptionCulprit: 1}}})
}
