package pbi

import "testing"

// The hints every service has, which azrest makes for Power BI: what an
// operator reads, spelled out so that the tests pin the text.
const (
	hintBadRequest   = "request rejected — check the values sent"
	hintUnauthorized = "token rejected — check tenant and that the service principal is allowed to use Power BI APIs"
	hintIncomplete   = "Power BI's answer arrived incomplete — is a proxy between rotatord and Power BI cutting responses?"
	hintTooLarge     = "Power BI's answer was larger than any it sends — check powerbi.api_url and any proxy in between"
	hintTLS          = "Power BI's certificate did not verify for the host asked for — check powerbi.api_url, and SSL_CERT_FILE behind a TLS-inspecting proxy"
	hintUnexpected   = "unexpected response — is powerbi.api_url the Power BI API?"

	hintPageNotHTTPS = "Power BI's next-page link (@odata.nextLink) is not an absolute https URL, and rotatord sends its token over https only — check powerbi.api_url and any proxy in between"
	hintPageOffHost  = "Power BI's next-page link (@odata.nextLink) points to another host than powerbi.api_url, and rotatord sends its token to no other — check powerbi.api_url and any proxy in between"
	hintPageOffPath  = "Power BI's next-page link (@odata.nextLink) points outside powerbi.api_url's path, where rotatord sends no token — check powerbi.api_url and any proxy in between"
	hintPageLoop     = "Power BI's next-page link (@odata.nextLink) points back to a page of this listing already read, so it would never end — try again later"
	hintTooManyPages = "the listing ran past 1000 pages, more than any Power BI listing has: Power BI or a proxy keeps sending next-page links — try again later"

	hintGatewayUnreachable    = "the gateway did not answer — is it running and online? The credential is not to blame"
	hintRejected              = "the data source refused the login — wrong password in the secret, account locked or expired, or the database's password changed without Key Vault"
	hintDatasourceUnreachable = "the gateway could not reach the database — check the server name, firewall and that the database is up; the credential is not to blame"
	hintDatasourceError       = "the gateway could not use the data source — see the message"
)

// The rest of the hints azrest makes for Power BI, checked here once.
const (
	hintThrottled = "throttled by Power BI — wait for Retry-After before calling again"
	hintServer    = "Power BI service error — retried; try again later"
	hintTransport = "could not reach Power BI — check network, proxy and powerbi.api_url"
	hintToken     = "could not acquire a token for Power BI — check the auth settings"
	hintRedirect  = "Power BI's answer redirected rotatord to another host, which it refuses — check powerbi.api_url and any proxy in between"
)

func TestSharedHints(t *testing.T) {
	h := hints()
	for _, tc := range [][2]string{
		{h.BadRequest, hintBadRequest}, {h.Unauthorized, hintUnauthorized}, {h.Incomplete, hintIncomplete},
		{h.TooLarge, hintTooLarge}, {h.TLS, hintTLS}, {h.Unexpected, hintUnexpected}, {h.TooManyPages, hintTooManyPages},
		{h.Throttled, hintThrottled}, {h.Server, hintServer}, {h.Transport, hintTransport}, {h.Token, hintToken},
		{h.Redirect, hintRedirect},
	} {
		if tc[0] != tc[1] {
			t.Errorf("hint %q, want %q", tc[0], tc[1])
		}
	}
}
