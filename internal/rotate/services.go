package rotate

import (
	"context"

	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/sources"
)

// PowerBI is the part of the Power BI gateway API a rotation calls.
// *pbi.Client is the real one; tests use an in-memory fake.
type PowerBI interface {
	GetGateway(ctx context.Context, gatewayID string) (pbi.Gateway, error)
	UpdateDatasource(ctx context.Context, gatewayID, datasourceID string, d pbi.CredentialDetails) error
	GetDatasourceUsers(ctx context.Context, gatewayID, datasourceID string) ([]pbi.DatasourceUser, error)
	AddDatasourceUser(ctx context.Context, gatewayID, datasourceID string, u pbi.DatasourceUser) error
	DeleteDatasourceUser(ctx context.Context, gatewayID, datasourceID, emailOrID string) error
	GetDatasourceStatus(ctx context.Context, gatewayID, datasourceID string) error
}

// KeyVault reads the secrets of one vault. *sources.KeyVault is the real
// one; tests use an in-memory fake.
type KeyVault interface {
	// URL identifies the vault, so that a reload keeps the client of a
	// vault it keeps.
	URL() string
	Get(ctx context.Context, name, version string) (sources.Value, error)
}

var (
	_ PowerBI  = (*pbi.Client)(nil)
	_ KeyVault = (*sources.KeyVault)(nil)
)
