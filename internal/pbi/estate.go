package pbi

// The read-only listing calls that `rotatord discover` makes: what gateways
// the identity administers, their data sources, and the data sources the
// datasets of a workspace are bound to. Their types are the swagger's.

import "context"

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
