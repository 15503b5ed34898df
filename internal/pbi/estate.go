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

	"github.com/rotatord/rotatord/internal/azrest"
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
var ErrPaging = azrest.ErrPaging

// maxPages bounds one listing: Power BI pages, if ever, by hundreds or
// thousands of items, so a thousand pages is a server (or proxy) that never
// stops sending links.
const maxPages = azrest.MaxPages

// maxListing bounds the bodies of one listing's pages together: 1000 pages
// of maxResponseBody would be 4 GB. 64 MiB holds a gateway of 100,000 data
// sources, or a users list of 200,000.
const maxListing = azrest.MaxListing

// list GETs the OData list at path and every page its @odata.nextLink chains
// to, and returns their values in order (azrest.List: each page is one
// call, a next page only on the API URL's host and under its path, never a
// page read twice, at most maxPages pages and c.maxListing bytes). It
// returns nothing of a listing it could not finish: a partial list would
// read as a complete one.
func list[T any](ctx context.Context, c *Client, op string, path ...string) ([]T, error) {
	return azrest.List(ctx, c.core, azrest.Listing[T]{Op: op, Path: path, MaxBytes: c.maxListing, Read: readODataPage[T]})
}

// readODataPage reads one page of an OData list, {"value": […],
// "@odata.nextLink": …}.
func readODataPage[T any](body []byte) ([]T, azrest.Link, error) {
	var page struct {
		Value    json.RawMessage `json:"value"`
		NextLink string          `json:"@odata.nextLink"`
	}
	var values []T
	err := json.Unmarshal(body, &page)
	if err == nil && page.Value == nil {
		// No list at all (a "value" of null is an empty one).
		err = errors.New(`no "value" in the answer`)
	}
	if err == nil {
		err = json.Unmarshal(page.Value, &values)
	}
	if err != nil {
		return nil, azrest.Link{}, err
	}
	return values, azrest.Link{URL: page.NextLink, Field: "@odata.nextLink"}, nil
}
