package pbi

import "context"

// rotatord never reads a data source back; the tests do, to see what a PATCH
// left and to drive the GET path with two path parameters.
const opGetDatasource = "Gateways_GetDatasource"

// Datasource is the swagger GatewayDatasource.
type Datasource struct {
	ID                string `json:"id"`
	GatewayID         string `json:"gatewayId"`
	DatasourceName    string `json:"datasourceName,omitempty"`
	DatasourceType    string `json:"datasourceType,omitempty"`
	ConnectionDetails string `json:"connectionDetails,omitempty"` // itself a JSON document
	CredentialType    string `json:"credentialType"`
}

// GetDatasource returns a gateway data source.
func (c *Client) GetDatasource(ctx context.Context, gatewayID, datasourceID string) (Datasource, error) {
	var d Datasource
	if err := checkUUIDs(opGetDatasource, "gatewayId", gatewayID, "datasourceId", datasourceID); err != nil {
		return d, err
	}
	err := c.getJSON(ctx, opGetDatasource, &d, "gateways", gatewayID, "datasources", datasourceID)
	return d, err
}
