package demo

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/rotatord/rotatord/internal/emulator"
)

// The demo's Fabric gateways: an on-premises cluster of three members (one
// 1024-bit, two 2048-bit, each with its own key) and a virtual-network
// gateway, which the Power BI API does not serve.
const (
	FabricCluster = "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
	FabricVNet    = "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f"
)

// ClusterMembers are FabricCluster's members, and ClusterMemberBits their
// key sizes.
func ClusterMembers() []string {
	return []string{
		FabricCluster, // the primary member's id is the cluster's
		"9d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
		"0e1f2a3b-4c5d-4e6f-9a7b-8c9d0e1f2a3b",
	}
}

// ClusterMemberBits are the key sizes of ClusterMembers, in order.
func ClusterMemberBits() []int { return []int{1024, 2048, 2048} }

// Connection is one Fabric connection of the demo inventory.
type Connection struct{ Name, ID, Gateway, Connectivity, Type string }

// Connections lists the demo inventory's Fabric connections, as
// inventory.yaml.tmpl declares them.
func Connections() []Connection {
	return []Connection{
		{"sales-cluster", "70b17680-48f1-4729-9df6-02576647dc3a", FabricCluster, "OnPremisesGateway", "Basic"},
		{"lake-spn", "81c28791-59a2-4830-8ae7-13687758ed4b", "", "ShareableCloud", "ServicePrincipal"},
		{"warehouse-keypair", "92d398a2-6ab3-4941-9bf8-24798869fe5c", FabricVNet, "VirtualNetworkGateway", "KeyPair"},
	}
}

// The app lake-spn signs in as, and the group its users entry declares.
const (
	LakeTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	LakeClient   = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
	ClusterGroup = "3d9b93c6-7b6d-4801-a491-1738910904fd"
)

// seedFabric adds the Fabric gateways and connections, and returns the
// secrets their sources read (Key Vault secret name → value) and what a
// rotation must deliver to each (the emulator's FabricReceived.Fields).
func (d *Demo) seedFabric(dir string) (map[string]string, error) {
	fab := d.Stack.Fabric
	if err := fab.AddClusterGateway(FabricCluster, ClusterMembers(), ClusterMemberBits()); err != nil {
		return nil, err
	}
	if err := fab.AddVNetGateway(FabricVNet); err != nil {
		return nil, err
	}
	details := map[string][2]string{
		"sales-cluster":     {"SQL", "sql02.contoso.local;sales"},
		"lake-spn":          {"AzureDataLakeStorage", "https://contoso.dfs.core.windows.net/lake"},
		"warehouse-keypair": {"Snowflake", "contoso.snowflakecomputing.com;WAREHOUSE"},
	}
	for _, c := range Connections() {
		err := fab.AddConnection(emulator.FabricConnection{ID: c.ID, GatewayID: c.Gateway, ConnectivityType: c.Connectivity,
			CredentialType: c.Type, DisplayName: c.Name, Type: details[c.Name][0], Path: details[c.Name][1]})
		if err != nil {
			return nil, err
		}
	}
	// The cluster's Test Connection is a long-running operation: rotatord
	// polls it.
	if err := fab.SetTestMode(Connections()[0].ID, 2); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	privateKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err := writeFile(dir, "warehouse-key.p8", []byte(privateKey)); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	secrets := map[string]string{"sales-cluster-password": secretText(), "lake-spn-secret": secretText()}
	d.Want["sales-cluster"] = map[string]string{"username": "svc_cluster", "password": secrets["sales-cluster-password"]}
	d.Want["lake-spn"] = map[string]string{"tenantId": LakeTenant, "servicePrincipalClientId": LakeClient,
		"servicePrincipalSecret": secrets["lake-spn-secret"]}
	// A file source drops the file's final newline, as it does for a password.
	d.Want["warehouse-keypair"] = map[string]string{"identifier": "ROTATORD_SVC", "privateKey": strings.TrimSuffix(privateKey, "\n")}
	return secrets, nil
}
