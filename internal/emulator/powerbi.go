package emulator

import (
	"crypto/rsa"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
)

// Operation names of the Power BI emulator — the swagger operationIds — for
// Faults().Inject and RequestRecord.Operation.
const (
	OpGetGateways           = "Gateways_GetGateways"
	OpGetGateway            = "Gateways_GetGateway"
	OpGetDatasources        = "Gateways_GetDatasources"
	OpGetDatasource         = "Gateways_GetDatasource"
	OpUpdateDatasource      = "Gateways_UpdateDatasource"
	OpGetDatasourceUsers    = "Gateways_GetDatasourceUsers"
	OpAddDatasourceUser     = "Gateways_AddDatasourceUser"
	OpDeleteDatasourceUser  = "Gateways_DeleteDatasourceUser"
	OpGetDatasourceStatus   = "Gateways_GetDatasourceStatus"
	OpGetDatasetsInGroup    = "Datasets_GetDatasetsInGroup"
	OpGetDatasourcesInGroup = "Datasets_GetDatasourcesInGroup"
)

// Error codes the Power BI emulator answers with. Power BI documents none for
// undecryptable credentials or a credential type that does not match, so
// CodeDecryptionFailed and CodeCredentialTypeMismatch are the emulator's own
// inventions in Power BI's DM_GWPipeline_* style; the others are codes the
// real service has been seen to send.
const (
	CodeDecryptionFailed           = "DM_GWPipeline_Gateway_CredentialsDecryptionFailed"
	CodeCredentialTypeMismatch     = "DM_GWPipeline_Gateway_CredentialTypeMismatch"
	CodeInvalidCredentials         = "DM_GWPipeline_Gateway_InvalidConnectionCredentials"
	CodeGatewayUnreachable         = "DM_GWPipeline_Client_GatewayUnreachable"
	CodeDataSourceAccessError      = "DM_GWPipeline_Gateway_DataSourceAccessError"
	CodeInvalidEncryptionAlgo      = "DMTS_InvalidEncryptionAlgorithmError"
	CodeEntityNotFound             = "DMTS_EntityNotFoundError"
	CodePowerBIEntityNotFound      = "PowerBIEntityNotFound" // workspaces, datasets and unknown routes
	CodeInvalidRequest             = "InvalidRequest"
	CodeNotAuthorized              = "PowerBINotAuthorizedException"
	CodeInvalidAuthenticationToken = "InvalidAuthenticationToken"
)

// PowerBIOptions configures a PowerBI emulator.
type PowerBIOptions struct {
	// Authorize checks a request's credentials. nil accepts any
	// "Authorization: Bearer x"; otherwise an error wrapping ErrDenied is
	// answered with 403 and any other error with 401, both with a Power BI
	// error body.
	Authorize func(r *http.Request) error
	Logger    *slog.Logger     // may be nil
	Now       func() time.Time // may be nil
	// VerifyEvery, when above 1, decrypts and checks only one in that many
	// PATCHes of encrypted credentials (the first, then every Nth); the
	// others are still validated against the swagger, must carry base64
	// ciphertext and are stored unverified, with no Fields. RSA private-key
	// operations dominate the emulator's CPU, so a load test that sends
	// thousands of credentials samples them rather than measuring the
	// emulator. 0 or 1: decrypt every one.
	VerifyEvery int
	// PageSize, when above 0, pages the list operations (Get Gateways,
	// Get Datasources, Get Datasource Users, Get Datasets In Group, Get
	// Datasources In Group) as OData server-side paging does: a list of
	// more items answers the first PageSize with an "@odata.nextLink" of
	// https://<the request's host><its path>?$skiptoken=<opaque>, which
	// answers the next page, and so on. A $skiptoken the emulator did not
	// give for that list answers 400 InvalidRequest. 0: whole lists.
	PageSize int
}

// PowerBI emulates the gateway part of the Power BI REST API under
// /v1.0/myorg, and the dataset listings that lead to it: it holds gateways
// with their private keys, decrypts the credentials PATCHed to their data
// sources like a gateway does, and keeps the data sources' users. Get
// Datasource Status tries the stored credential against a backend per data
// source (SetBackend, SetBackendReachable, SetGatewayOnline). What the
// listings report of a data source is set with SetDatasourceInfo; an
// admin's edits in the portal with SetCredentialType and RemoveDatasource;
// a gateway the caller does not administer with DenyGateway. Workspaces
// hold datasets (AddWorkspace, AddDataset) whose sources are bound to data
// sources or to none, served by Get Datasets In Group and Get Datasources
// In Group. PowerBIOptions.PageSize pages the lists as OData does. Request
// bodies are validated against the swagger definitions embedded from
// swagger/gateways.json, and the tests hold the answers to them. It is
// safe for concurrent use.
type PowerBI struct {
	authorize func(*http.Request) error
	log       *slog.Logger
	now       func() time.Time
	spec      *apiSpec
	faults    Faults

	verifyEvery int
	pageSize    atomic.Int64  // PowerBIOptions.PageSize, or SetPageSize's
	encrypted   atomic.Uint64 // encrypted PATCHes seen, for verifyEvery

	mu          sync.Mutex
	gateways    map[string]*pbiGateway // by lower-case id
	datasources map[pbiKey]*pbiDatasource
	denied      map[string]bool          // DenyGateway's, by lower-case id
	workspaces  map[string]*pbiWorkspace // by lower-case id
	requests    []RequestRecord
}

type pbiGateway struct {
	id      string
	bits    int
	key     *rsa.PrivateKey
	offline bool // SetGatewayOnline(false): status checks cannot reach it
}

type pbiKey struct{ gateway, datasource string } // lower-case ids

type pbiDatasource struct {
	id, gatewayID  string
	cloud          bool
	credentialType string
	info           DatasourceInfo // SetDatasourceInfo's; see described
	history        []Received
	users          []User
	// The database behind the data source, for the status check: accept
	// is the credential fields it takes (nil: whatever was pushed last),
	// unreachable that the gateway cannot connect to it at all.
	accept      map[string]string
	unreachable bool
}

// DatasourceInfo is what Get Datasource(s) report of a data source besides
// its ids and credential type: datasourceName, datasourceType,
// connectionDetails (a JSON document of ConnectionDetails, whose keys must
// be properties of the swagger DatasourceConnectionDetails: server,
// database, url, path, …) and credentialDetails.useEndUserOAuth2Credentials.
// A zero field reports the emulator's default: "emulated-" and the first
// 8 characters of the id; "Sql" on a gateway, "AzureDataLakeStorage" in the
// cloud; an emulated server with a database or a path.
type DatasourceInfo struct {
	Name              string
	Type              string
	ConnectionDetails map[string]string
	EndUserOAuth2     bool
}

// Received is a credential the emulator accepted, as a gateway would hold it.
type Received struct {
	CredentialType, EncryptedConnection, EncryptionAlgorithm, PrivacyLevel string
	Fields                                                                 map[string]string // decrypted name→value
	At                                                                     time.Time
	// Start is when the PATCH arrived, At when it was stored; Agent is its
	// User-Agent, which names rotatord's process (the HA tests tell two
	// processes' PATCHes of one data source apart by it).
	Start time.Time
	Agent string
	// Unverified is true when VerifyEvery skipped decrypting the
	// credential; Fields is nil then.
	Unverified bool
}

// User is a data source user, the swagger DatasourceUser.
type User struct {
	DatasourceAccessRight string `json:"datasourceAccessRight"`
	EmailAddress          string `json:"emailAddress,omitempty"`
	DisplayName           string `json:"displayName,omitempty"`
	Identifier            string `json:"identifier,omitempty"`
	PrincipalType         string `json:"principalType,omitempty"`
}

// RequestRecord is one request the emulator answered. It never holds a body.
type RequestRecord struct {
	Method    string
	Path      string
	Operation string // swagger operationId; "" for unknown routes
	Status    int    // 0 when the connection was dropped
}

// NewPowerBI returns an emulator with no gateways.
func NewPowerBI(o PowerBIOptions) *PowerBI {
	spec, err := loadSpec(gatewaysSwagger)
	if err != nil {
		panic(err) // the embedded file is generated and tested; failing here is a build defect
	}
	p := &PowerBI{
		authorize:   o.Authorize,
		verifyEvery: o.VerifyEvery,
		log:         o.Logger,
		now:         o.Now,
		spec:        spec,
		gateways:    map[string]*pbiGateway{},
		datasources: map[pbiKey]*pbiDatasource{},
		denied:      map[string]bool{},
		workspaces:  map[string]*pbiWorkspace{},
	}
	p.pageSize.Store(int64(o.PageSize))
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "emulator.powerbi")
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// AddGateway registers an on-premises gateway with a new RSA key of bits
// (1024 exercises the segmented scheme, 2048 and more the hybrid one).
func (p *PowerBI) AddGateway(id string, bits int) error {
	if !validUUID(id) {
		return fmt.Errorf("emulator: gateway id %q is not a UUID", id)
	}
	if bits < 1024 {
		return fmt.Errorf("emulator: gateway %s: %d-bit keys are too small", id, bits)
	}
	key, err := ciphertest.GenerateKey(bits)
	if err != nil {
		return fmt.Errorf("emulator: gateway %s: %w", id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := strings.ToLower(id)
	if p.gateways[k] != nil {
		return fmt.Errorf("emulator: gateway %s already exists", id)
	}
	if p.isCloudGatewayLocked(k) {
		return fmt.Errorf("emulator: %s is the gateway id of cloud data sources", id)
	}
	p.gateways[k] = &pbiGateway{id: id, bits: bits, key: key}
	return nil
}

// RotateGatewayKey gives a gateway a new key pair of the same size, as a
// reinstalled gateway gets: credentials encrypted for the old key no longer
// decrypt.
func (p *PowerBI) RotateGatewayKey(id string) error {
	p.mu.Lock()
	g := p.gateways[strings.ToLower(id)]
	p.mu.Unlock()
	if g == nil {
		return fmt.Errorf("emulator: no gateway %s", id)
	}
	key, err := ciphertest.GenerateKey(g.bits)
	if err != nil {
		return fmt.Errorf("emulator: gateway %s: %w", id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g.key = key
	return nil
}

// AddDatasource adds an on-premises data source to a gateway added before.
func (p *PowerBI) AddDatasource(gatewayID, datasourceID, credentialType string) error {
	return p.addDatasource(gatewayID, datasourceID, credentialType, false)
}

// AddCloudDatasource adds a cloud data source. Its gatewayID is not a real
// gateway, as with Power BI: GetGateway answers 404 for it, and PATCHes must
// send unencrypted credentials with encryptionAlgorithm None.
func (p *PowerBI) AddCloudDatasource(gatewayID, datasourceID, credentialType string) error {
	return p.addDatasource(gatewayID, datasourceID, credentialType, true)
}

func (p *PowerBI) addDatasource(gatewayID, datasourceID, credentialType string, cloud bool) error {
	for _, id := range []string{gatewayID, datasourceID} {
		if !validUUID(id) {
			return fmt.Errorf("emulator: id %q is not a UUID", id)
		}
	}
	if err := checkCredentialType(credentialType); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	gk := strings.ToLower(gatewayID)
	switch isGateway := p.gateways[gk] != nil; {
	case cloud && isGateway:
		return fmt.Errorf("emulator: cloud data source %s: %s is a real gateway", datasourceID, gatewayID)
	case !cloud && !isGateway:
		return fmt.Errorf("emulator: data source %s: no gateway %s (AddGateway first)", datasourceID, gatewayID)
	}
	k := pbiKey{gk, strings.ToLower(datasourceID)}
	if p.datasources[k] != nil {
		return fmt.Errorf("emulator: data source %s/%s already exists", gatewayID, datasourceID)
	}
	p.datasources[k] = &pbiDatasource{id: datasourceID, gatewayID: gatewayID, cloud: cloud, credentialType: credentialType}
	return nil
}

// SetDatasourceInfo sets what Get Datasource(s) report of a data source;
// zero fields of info report the defaults (see DatasourceInfo).
func (p *PowerBI) SetDatasourceInfo(gatewayID, datasourceID string, info DatasourceInfo) error {
	if err := checkConnectionDetails(info.ConnectionDetails); err != nil {
		return fmt.Errorf("emulator: data source %s/%s: %w", gatewayID, datasourceID, err)
	}
	info.ConnectionDetails = maps.Clone(info.ConnectionDetails)
	return p.editDatasource(gatewayID, datasourceID, func(d *pbiDatasource) { d.info = info })
}

// SetCredentialType changes a data source's credential type, as an admin
// editing it in the portal does: later PATCHes must carry the new type.
// The credentials pushed before stay in its History.
func (p *PowerBI) SetCredentialType(gatewayID, datasourceID, credentialType string) error {
	if err := checkCredentialType(credentialType); err != nil {
		return err
	}
	return p.editDatasource(gatewayID, datasourceID, func(d *pbiDatasource) { d.credentialType = credentialType })
}

// RemoveDatasource deletes a data source, as its gateway's admin does in
// the portal: every request on it then answers 404 DMTS_EntityNotFoundError,
// its credentials, users and backend are gone with it, and the datasets
// bound to it no longer list it.
func (p *PowerBI) RemoveDatasource(gatewayID, datasourceID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := keyOf(gatewayID, datasourceID)
	if p.datasources[k] == nil {
		return fmt.Errorf("emulator: no data source %s/%s", gatewayID, datasourceID)
	}
	delete(p.datasources, k)
	p.unbindLocked(k)
	return nil
}

// DenyGateway makes the caller no admin of a gateway, as when it was
// added by someone who never shared it: Get Gateways still lists it, but
// every other request under /gateways/{gatewayID} answers 403
// PowerBINotAuthorizedException. Datasets bound to its data sources still
// list them.
func (p *PowerBI) DenyGateway(gatewayID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denied[strings.ToLower(gatewayID)] = true
}

func (p *PowerBI) isCloudGatewayLocked(gk string) bool {
	for k, d := range p.datasources {
		if k.gateway == gk && d.cloud {
			return true
		}
	}
	return false
}

// Credential returns the latest credential accepted for a data source.
func (p *PowerBI) Credential(gatewayID, datasourceID string) (Received, bool) {
	h := p.History(gatewayID, datasourceID)
	if len(h) == 0 {
		return Received{}, false
	}
	return h[len(h)-1], true
}

// History returns every credential accepted for a data source, oldest first.
func (p *PowerBI) History(gatewayID, datasourceID string) []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.datasources[keyOf(gatewayID, datasourceID)]
	if d == nil {
		return nil
	}
	out := make([]Received, len(d.history))
	for i, r := range d.history {
		r.Fields = maps.Clone(r.Fields)
		out[i] = r
	}
	return out
}

// Users returns a data source's users.
func (p *PowerBI) Users(gatewayID, datasourceID string) []User {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.datasources[keyOf(gatewayID, datasourceID)]; d != nil && len(d.users) > 0 {
		return slices.Clone(d.users)
	}
	return nil
}

// SetUsers replaces a data source's users, e.g. to start a test with drift.
func (p *PowerBI) SetUsers(gatewayID, datasourceID string, users []User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.datasources[keyOf(gatewayID, datasourceID)]; d != nil {
		d.users = slices.Clone(users)
	}
}

// SetPageSize changes PowerBIOptions.PageSize for the requests to come.
func (p *PowerBI) SetPageSize(n int) { p.pageSize.Store(int64(n)) }

// Faults returns the faults injected into operations named by swagger
// operationId (OpUpdateDatasource, …).
func (p *PowerBI) Faults() *Faults { return &p.faults }

// Requests returns every request answered so far, oldest first.
func (p *PowerBI) Requests() []RequestRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

func keyOf(gatewayID, datasourceID string) pbiKey {
	return pbiKey{strings.ToLower(gatewayID), strings.ToLower(datasourceID)}
}

// extensibleCredentialTypes are credential types a data source may have
// beyond the swagger's enum, which Power BI declares extensible: Fabric's
// WorkspaceIdentity and others rotatord's inventory cannot serve. Get
// Datasource(s) report them; a PATCH naming one is refused by the enum,
// which the emulator enforces on requests.
var extensibleCredentialTypes = []string{"ServicePrincipal", "KeyPair", "WorkspaceIdentity"}

func checkCredentialType(credentialType string) error {
	if credentialFields(credentialType) == nil && credentialType != "Anonymous" && !slices.Contains(extensibleCredentialTypes, credentialType) {
		return fmt.Errorf("emulator: credential type %q is not one of Basic, Windows, Anonymous, OAuth2, Key, SAS, %s",
			credentialType, strings.Join(extensibleCredentialTypes, ", "))
	}
	return nil
}

// connectionKeys are the properties of the swagger
// DatasourceConnectionDetails, in its order, which is also the order
// connectionDetails strings list them in.
var connectionKeys = []string{"server", "database", "url", "path", "kind", "account", "domain", "emailAddress", "loginServer", "classInfo"}

func checkConnectionDetails(m map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(connectionKeys, k) {
			return fmt.Errorf("connection detail %q is not one of %s", k, strings.Join(connectionKeys, ", "))
		}
	}
	return nil
}

// credentialFields are the credentialData names each type needs, as the
// Power BI .NET SDK sends them.
func credentialFields(credentialType string) []string {
	switch credentialType {
	case "Basic", "Windows":
		return []string{"username", "password"}
	case "Key":
		return []string{"key"}
	case "OAuth2":
		return []string{"accessToken"}
	case "SAS":
		return []string{"token"}
	}
	return nil
}
