package emulator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/rotatord/rotatord/internal/secret"
)

// Power BI's token audience, as Entra puts it in the aud claim.
const powerBIResource = "https://analysis.windows.net/powerbi/api"

// Stack is every emulated service, each on its own HTTPS port, sharing one CA
// and one token issuer: what rotatord needs to run end to end offline.
type Stack struct {
	CA       *CA
	Tokens   *TokenIssuer
	PowerBI  *PowerBI
	Fabric   *Fabric
	KeyVault *KeyVault
	Identity *Identity

	PowerBIURL   string // the api_url: https://127.0.0.1:PORT/v1.0/myorg
	FabricURL    string // fabric's api_url: https://127.0.0.1:PORT/v1
	KeyVaultURL  string // https://127.0.0.1:PORT
	AuthorityURL string // authority_host for client_secret and workload identity
	IdentityURL  string // IDENTITY_ENDPOINT for the App Service managed-identity protocol
	IdentityHdr  string // IDENTITY_HEADER

	TenantID     string
	ClientID     string
	ClientSecret secret.Secret // of the registered app ClientID

	servers []*Server
}

// StackOptions tune a Stack.
type StackOptions struct {
	Logger   *slog.Logger     // may be nil
	Now      func() time.Time // may be nil
	TokenTTL time.Duration    // default 1h
	// VerifyEvery is the Power BI emulator's PowerBIOptions.VerifyEvery.
	VerifyEvery int
	// PageSize is the Power BI emulator's PowerBIOptions.PageSize and the
	// Fabric emulator's FabricOptions.PageSize.
	PageSize int
}

// StartStack starts every emulator. Close it when done.
func StartStack(o StackOptions) (st *Stack, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	st = &Stack{
		TenantID:     "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID:     "8e1c3a5b-0d2f-4c6e-9a7b-1f2e3d4c5b6a",
		ClientSecret: secret.FromString(rand.Text()),
		IdentityHdr:  rand.Text(),
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if st.CA, err = NewCA(); err != nil {
		return nil, err
	}
	if st.Tokens, err = NewTokenIssuer(o.Now, o.TokenTTL); err != nil {
		return nil, err
	}

	st.Identity = NewIdentity(IdentityOptions{Tokens: st.Tokens, Header: st.IdentityHdr, TenantID: st.TenantID})
	st.Identity.AddApp(st.ClientID, st.ClientSecret)
	idSrv, err := st.serve(st.Identity)
	if err != nil {
		return nil, err
	}
	st.AuthorityURL = idSrv.URL
	st.IdentityURL = idSrv.URL + "/msi/token"

	// Key Vault's challenge names a resource whose host must be a suffix of
	// the vault's host, or azsecrets refuses it. On loopback "0.0.1:PORT"
	// is such a suffix of "127.0.0.1:PORT", so the check stays on.
	kvSrv, err := st.CA.Listen()
	if err != nil {
		return nil, err
	}
	st.servers = append(st.servers, kvSrv)
	resource := LoopbackChallengeResource(kvSrv.URL)
	st.KeyVault = NewKeyVault(KeyVaultOptions{
		Authorize:         st.Tokens.Authorizer(resource),
		TenantID:          st.TenantID,
		ChallengeResource: resource,
		Now:               o.Now,
	})
	kvSrv.Start(st.KeyVault)
	st.KeyVaultURL = kvSrv.URL

	st.PowerBI = NewPowerBI(PowerBIOptions{
		Authorize:   st.Tokens.Authorizer(powerBIResource),
		Logger:      o.Logger,
		Now:         o.Now,
		VerifyEvery: o.VerifyEvery,
		PageSize:    o.PageSize,
	})
	pbiSrv, err := st.serve(st.PowerBI)
	if err != nil {
		return nil, err
	}
	st.PowerBIURL = pbiSrv.URL + "/v1.0/myorg"

	st.Fabric = NewFabric(FabricOptions{
		Authorize: st.Tokens.Authorizer(fabricResource),
		Logger:    o.Logger,
		Now:       o.Now,
		PageSize:  o.PageSize,
		Owner:     TokenObjectID(st.ClientID),
	})
	fabSrv, err := st.serve(st.Fabric)
	if err != nil {
		return nil, err
	}
	st.FabricURL = fabSrv.URL + "/v1"
	return st, nil
}

func (st *Stack) serve(h http.Handler) (*Server, error) {
	s, err := st.CA.Serve(h)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	st.servers = append(st.servers, s)
	return s, nil
}

// Close stops every server.
func (st *Stack) Close() error {
	var errs []error
	for _, s := range st.servers {
		errs = append(errs, s.Close())
	}
	st.servers = nil
	return errors.Join(errs...)
}
