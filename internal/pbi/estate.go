package pbi

// The read-only listing calls that `rotatord discover` makes: what gateways
// the identity administers, their data sources, and the data sources the
// datasets of a workspace are bound to. Their types are the swagger's.
//
// Every list answer is an OData wrapper, {"@odata.context": …, "value": […]},
// and list follows its @odata.nextLink, should Power BI ever page one: the
// swagger gives these calls no $top or $skip, but an OData service may page
// on its own, and a listing cut at its first page would make discovery miss
// data sources without a word.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Operation names of the listing calls, as the swagger's operationIds.
const (
	opGetGateways           = "Gateways_GetGateways"
	opGetDatasources        = "Gateways_GetDatasources"
	opGetDatasource         = "Gateways_GetDatasource"
	opGetDatasetsInGroup    = "Datasets_GetDatasetsInGroup"
	opGetDatasourcesInGroup = "Datasets_GetDatasourcesInGroup"
)

// GatewayDatasource is the swagger GatewayDatasource: a data source as its
// gateway lists it. ConnectionDetails is a JSON document in a string, as
// Power BI sends it; ParseConnectionDetails reads it.
type GatewayDatasource struct {
	ID                string                              `json:"id"`
	GatewayID         string                              `json:"gatewayId"`
	DatasourceName    string                              `json:"datasourceName,omitempty"`
	DatasourceType    string                              `json:"datasourceType,omitempty"`
	ConnectionDetails string                              `json:"connectionDetails,omitempty"`
	CredentialType    string                              `json:"credentialType"`
	CredentialDetails *GatewayDatasourceCredentialDetails `json:"credentialDetails,omitempty"`
}

// GatewayDatasourceCredentialDetails is the swagger
// GatewayDatasourceCredentialDetails.
type GatewayDatasourceCredentialDetails struct {
	// UseEndUserOAuth2Credentials: DirectQuery connects with each viewer's
	// own Entra identity (single sign-on), so no stored credential is used.
	UseEndUserOAuth2Credentials bool `json:"useEndUserOAuth2Credentials"`
}

// Dataset is the part of the swagger Dataset that discovery reads.
type Dataset struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	ConfiguredBy string `json:"configuredBy,omitempty"`
}

// Datasource is the swagger Datasource: a data source a dataset uses.
// GatewayID and DatasourceID are empty when it is bound to no gateway; for
// a cloud data source they name the virtual gateway and the data source that
// Update Datasource takes.
type Datasource struct {
	Name              string            `json:"name,omitempty"`             // deprecated by Power BI; DirectQuery only
	ConnectionString  string            `json:"connectionString,omitempty"` // deprecated by Power BI; DirectQuery only
	DatasourceType    string            `json:"datasourceType,omitempty"`
	ConnectionDetails ConnectionDetails `json:"connectionDetails"`
	GatewayID         string            `json:"gatewayId,omitempty"`
	DatasourceID      string            `json:"datasourceId,omitempty"`
}

// ConnectionDetails is the swagger DatasourceConnectionDetails: where a
// data source is. Which fields are set depends on its type.
type ConnectionDetails struct {
	Server       string `json:"server,omitempty"`
	Database     string `json:"database,omitempty"`
	URL          string `json:"url,omitempty"`
	Path         string `json:"path,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Account      string `json:"account,omitempty"`
	Domain       string `json:"domain,omitempty"`
	EmailAddress string `json:"emailAddress,omitempty"`
	LoginServer  string `json:"loginServer,omitempty"`
	ClassInfo    string `json:"classInfo,omitempty"`
}

// GetDatasource returns a gateway data source. Cloud data sources answer it
// too, under the gateway id that Get Datasources In Group names for them.
func (c *Client) GetDatasource(ctx context.Context, gatewayID, datasourceID string) (GatewayDatasource, error) {
	var d GatewayDatasource
	if err := checkUUIDs(opGetDatasource, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return d, err
	}
	err := c.getJSON(ctx, opGetDatasource, &d, "gateways", gatewayID, "datasources", datasourceID)
	return d, err
}

// GetGateways lists the gateways the identity is an admin of. Power BI
// lists no others, so an identity that administers none gets an empty list,
// not a 403.
func (c *Client) GetGateways(ctx context.Context) ([]Gateway, error) {
	return list[Gateway](ctx, c, opGetGateways, "gateways")
}

// GetDatasources lists the data sources of a gateway.
func (c *Client) GetDatasources(ctx context.Context, gatewayID string) ([]GatewayDatasource, error) {
	if err := checkUUIDs(opGetDatasources, "gatewayId", gatewayID); err != nil {
		return nil, err
	}
	return list[GatewayDatasource](ctx, c, opGetDatasources, "gateways", gatewayID, "datasources")
}

// GetDatasetsInGroup lists the datasets of a workspace.
func (c *Client) GetDatasetsInGroup(ctx context.Context, groupID string) ([]Dataset, error) {
	if err := checkUUIDs(opGetDatasetsInGroup, "groupId", groupID); err != nil {
		return nil, err
	}
	return list[Dataset](ctx, c, opGetDatasetsInGroup, "groups", groupID, "datasets")
}

// GetDatasourcesInGroup lists the data sources a dataset of a workspace uses,
// with the gateway and data source ids that name each for Update Datasource.
func (c *Client) GetDatasourcesInGroup(ctx context.Context, groupID, datasetID string) ([]Datasource, error) {
	if err := checkUUIDs(opGetDatasourcesInGroup, "groupId", groupID, "datasetId", datasetID); err != nil {
		return nil, err
	}
	return list[Datasource](ctx, c, opGetDatasourcesInGroup, "groups", groupID, "datasets", datasetID, "datasources")
}

// ErrPaging marks an *Error for a listing whose next page rotatord refused
// to ask for: a link that would take the token off the API (another scheme,
// host or path), a page read before, or more pages than any listing has.
// Nothing was sent for the refused page, and asking again would not help.
var ErrPaging = errors.New("next page refused")

// maxPages bounds one listing: Power BI pages, if ever, by hundreds or
// thousands of items, so a thousand pages is a server (or proxy) that never
// stops sending links.
const maxPages = 1000

// maxListing bounds the bodies of one listing's pages together: 1000 pages
// of maxResponseBody would be 4 GB. 64 MiB holds a gateway of 100,000 data
// sources, or a users list of 200,000.
const maxListing = 64 << 20

// list GETs the OData list at path and every page its @odata.nextLink chains
// to, and returns their values in order. Each page is one call of do, with
// its own retries, re-authorization and Retry-After waits, reported to
// OnResponse under op. It returns nothing of a listing it could not finish:
// a partial list would read as a complete one.
func list[T any](ctx context.Context, c *Client, op string, path ...string) ([]T, error) {
	var all []T
	total := 0 // bytes of the pages read
	r := request{op: op, method: http.MethodGet, path: path}
	seen := map[string]bool{}
	for n := 1; ; n++ {
		body, err := c.do(ctx, r)
		if err != nil {
			return nil, err
		}
		if total += len(body); total > c.maxListing {
			return nil, pagingError(op, fmt.Sprintf("the %d pages read hold more than %d MiB", n, c.maxListing>>20), hintTooLarge)
		}
		var page struct {
			Value    json.RawMessage `json:"value"`
			NextLink string          `json:"@odata.nextLink"`
		}
		var values []T
		err = json.Unmarshal(body, &page)
		if err == nil && page.Value == nil {
			// No list at all (a "value" of null is an empty one).
			err = errors.New(`no "value" in the answer`)
		}
		if err == nil {
			err = json.Unmarshal(page.Value, &values)
		}
		if err != nil {
			return nil, decodeError(op, err)
		}
		if all == nil {
			all = values
		} else {
			all = append(all, values...)
		}
		if page.NextLink == "" {
			return all, nil
		}
		if n == 1 {
			seen[c.pageKey(c.pathURL(path))] = true
		}
		if n >= maxPages {
			return nil, pagingError(op, fmt.Sprintf("page %d still links to another", n), hintTooManyPages)
		}
		next, why, hint := c.nextPage(page.NextLink)
		if why == "" && seen[c.pageKey(next)] {
			why, hint = "links back to a page already read", hintPageLoop
		}
		if why != "" {
			return nil, pagingError(op, fmt.Sprintf("page %d: @odata.nextLink %s", n, why), hint)
		}
		seen[c.pageKey(next)] = true
		r = request{op: op, method: http.MethodGet, url: next.String()}
	}
}

// nextPage checks a next-page link before the bearer token goes with it: it
// must be an absolute https URL on the API URL's host and port, under its
// path, without user info or dot segments. why says what is wrong with it,
// hint what to check; both "" when it is fine. Neither quotes the link: it
// came in a response body.
func (c *Client) nextPage(link string) (u *url.URL, why, hint string) {
	u, err := url.Parse(link)
	switch {
	case err != nil:
		return nil, "is not a URL", hintPageNotHTTPS
	case !strings.EqualFold(u.Scheme, "https") || u.Opaque != "":
		return nil, "is not an absolute https URL", hintPageNotHTTPS
	case !sameHost(u, c.baseURL) || u.User != nil:
		return nil, "points to another host than the API URL's", hintPageOffHost
	case !underPath(u.Path, c.baseURL.Path):
		return nil, "points outside the API URL's path", hintPageOffPath
	}
	u.Fragment, u.RawFragment = "", ""
	return u, "", ""
}

// sameHost reports whether u is on base's host and port, the port of https
// made explicit and the host's case ignored.
func sameHost(u, base *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return "443"
	}
	return u.Hostname() != "" && strings.EqualFold(u.Hostname(), base.Hostname()) && port(u) == port(base)
}

// underPath reports whether the (decoded) path p is below base and has no
// "." or ".." segment that a server could resolve to somewhere else. Case
// is ignored: Power BI's paths are case-insensitive.
func underPath(p, base string) bool {
	prefix := base + "/"
	if len(p) <= len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// pathURL is the URL do sends a request with path to.
func (c *Client) pathURL(path []string) *url.URL {
	u := *c.baseURL
	u.RawPath = ""
	for _, s := range path {
		u.Path += "/" + s
	}
	return &u
}

// pageKey is what tells two pages of a listing apart: their URL, with the
// case of scheme and host and the default port ignored.
func (c *Client) pageKey(u *url.URL) string {
	k := *u
	k.Scheme = strings.ToLower(k.Scheme)
	k.Host = strings.TrimSuffix(strings.ToLower(k.Host), ":443")
	return k.String()
}

func pagingError(op, what, hint string) *Error {
	return &Error{Operation: op, Err: fmt.Errorf("%s: %w", what, ErrPaging), Hint: hint}
}
