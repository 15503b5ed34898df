package fabric

import "context"

// PublicKey is a gateway's RSA public key: base64 of the big-endian exponent
// and modulus.
type PublicKey struct {
	Exponent string `json:"exponent"`
	Modulus  string `json:"modulus"`
}

// Member is the swagger OnPremisesGatewayMember: one machine of an
// on-premises gateway cluster, with the key to encrypt its credentials.
type Member struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Version     string    `json:"version"`
	Enabled     bool      `json:"enabled"`
	PublicKey   PublicKey `json:"publicKey"`
}

// Gateway is the part of the swagger Gateway rotatord reads. PublicKey is
// the primary member's (OnPremises) or the gateway's (OnPremisesPersonal);
// nil for virtual-network gateways, which take credentials in clear.
type Gateway struct {
	ID          string     `json:"id"`
	DisplayName string     `json:"displayName"`
	Type        string     `json:"type"` // OnPremises, OnPremisesPersonal, VirtualNetwork, StreamingVirtualNetwork
	PublicKey   *PublicKey `json:"publicKey"`
}

// GetGateway returns a gateway.
func (c *Client) GetGateway(ctx context.Context, gatewayID string) (Gateway, error) {
	var g Gateway
	if err := checkUUIDs(opGetGateway, "gatewayId", gatewayID); err != nil {
		return g, err
	}
	err := c.getJSON(ctx, opGetGateway, &g, "gateways", gatewayID)
	return g, err
}

// ListGatewayMembers lists the members of an on-premises gateway cluster,
// across every page (see list): an OnPremisesGateway connection's
// credentials are encrypted once per enabled member.
func (c *Client) ListGatewayMembers(ctx context.Context, gatewayID string) ([]Member, error) {
	if err := checkUUIDs(opListGatewayMembers, "gatewayId", gatewayID); err != nil {
		return nil, err
	}
	return list[Member](ctx, c, opListGatewayMembers, "gateways", gatewayID, "members")
}
