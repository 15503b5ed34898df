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

// Operation names of the Fabric emulator — the swagger operationIds — for
// Faults().Inject and RequestRecord.Operation.
const (
	OpFabricListConnections                = "Connections_ListConnections"
	OpFabricGetConnection                  = "Connections_GetConnection"
	OpFabricUpdateConnection               = "Connections_UpdateConnection"
	OpFabricTestConnection                 = "Connections_TestConnection"
	OpFabricGetOperationState              = "LongRunningOperations_GetOperationState"
	OpFabricGetOperationResult             = "LongRunningOperations_GetOperationResult"
	OpFabricListGateways                   = "Gateways_ListGateways"
	OpFabricGetGateway                     = "Gateways_GetGateway"
	OpFabricListGatewayMembers             = "Gateways_ListGatewayMembers"
	OpFabricListConnectionRoleAssignments  = "Connections_ListConnectionRoleAssignments"
	OpFabricAddConnectionRoleAssignment    = "Connections_AddConnectionRoleAssignment"
	OpFabricGetConnectionRoleAssignment    = "Connections_GetConnectionRoleAssignment"
	OpFabricUpdateConnectionRoleAssignment = "Connections_UpdateConnectionRoleAssignment"
	OpFabricDeleteConnectionRoleAssignment = "Connections_DeleteConnectionRoleAssignment"
)

// Error codes the Fabric emulator answers with, in ErrorResponse.errorCode
// (and the x-ms-public-api-error-code header). Those marked "spec" are
// listed in the swagger's "Common error codes"; the others are the
// emulator's choices where the swagger names none, in Fabric's style.
const (
	FabricCodeEntityNotFound = "EntityNotFound" // spec: no such connection, gateway, role assignment, operation, route
	// FabricCodeInvalidInput: a body the swagger refuses, a path id that is
	// not a UUID, a connectivityType other than the connection's. Fabric
	// sends it for model-validation failures, with moreDetails.
	FabricCodeInvalidInput = "InvalidInput"
	// FabricCodeInvalidCredentialDetails (spec, Create Connection): a
	// credential type not allowed on the connectivity type, a credentials
	// document or typed credential missing a field, members' credentials
	// that decrypt to different documents.
	FabricCodeInvalidCredentialDetails = "InvalidCredentialDetails"
	// FabricCodeInvalidEncryptedCredentials (emulator's): the values of an
	// on-premises PATCH do not fit the gateway cluster as it is now — an
	// enabled member without a value, a value for an id that is no member,
	// a value that the member's key does not decrypt. Each means the
	// client's copy of the members' keys is stale: fetch them again.
	FabricCodeInvalidEncryptedCredentials = "InvalidEncryptedCredentials"
	// FabricCodeIncorrectCredentials (spec): the PATCH's test of the new
	// credential (skipTestConnection false or absent) was refused by the
	// data source; also a refused cloud credential in Test Connection.
	FabricCodeIncorrectCredentials = "IncorrectCredentials"
	// FabricCodeUpdateGatewayConnectionFailed (spec): the PATCH's test
	// could not reach the gateway or the data source at all.
	FabricCodeUpdateGatewayConnectionFailed = "UpdateGatewayConnectionFailed"
	FabricCodeUnsupportedGatewayType        = "UnsupportedGatewayType"      // spec (other gateway operations): members of a gateway that is no cluster
	FabricCodeUnsupportedConnectivityType   = "UnsupportedConnectivityType" // emulator's: Test Connection of a StreamingVirtualNetworkGateway connection
	FabricCodeOperationNotSucceeded         = "OperationNotSucceeded"       // emulator's: Get Operation Result before the operation succeeded
	FabricCodeInvalidContinuationToken      = "InvalidContinuationToken"    // emulator's: a continuationToken it did not give for that list
	// FabricCodePrincipalAlreadyHasRole (emulator's, after Fabric's
	// workspace code PrincipalAlreadyHasWorkspaceRolePermissions): 409 to
	// adding a role assignment for a principal that has one.
	FabricCodePrincipalAlreadyHasRole = "PrincipalAlreadyHasConnectionRolePermissions"
	FabricCodeTokenExpired            = "TokenExpired"                              // 401, an expired token
	FabricCodeInvalidToken            = "InvalidToken"                              // 401, no token or one not issued for Fabric
	FabricCodeNoConnectionPermission  = "InsufficientPermissionsToManageConnection" // spec: 403 to an identity denied (TokenIssuer.Deny)
	FabricCodeNoGatewayPermission     = "InsufficientPermissionsToManageGateway"    // spec: 403 on gateway operations
	FabricCodeRequestBlocked          = "RequestBlocked"                            // an injected 429 without a code
	FabricCodeUnknownError            = "UnknownError"                              // spec: an injected 5xx without a code
	FabricCodeMethodNotAllowed        = "MethodNotAllowed"
	// FabricCodeGatewayUnknownError is what Test Connection reports of a
	// gateway that is gone (spec example TestConnectionOffline.json), with
	// a message naming GatewayNotFound.
	FabricCodeGatewayUnknownError = "DM_GWPipeline_UnknownError"
)

// Fabric's token audience, as Entra puts it in the aud claim; clients ask
// for the scope https://api.fabric.microsoft.com/.default.
const fabricResource = "https://api.fabric.microsoft.com"

// Connectivity types the emulator serves (the swagger's ConnectivityType
// also has PersonalCloud, Automatic and None).
const (
	FabricShareableCloud                 = "ShareableCloud"
	FabricOnPremisesGateway              = "OnPremisesGateway"
	FabricOnPremisesGatewayPersonal      = "OnPremisesGatewayPersonal"
	FabricVirtualNetworkGateway          = "VirtualNetworkGateway"
	FabricStreamingVirtualNetworkGateway = "StreamingVirtualNetworkGateway"
)

// Gateway types, the swagger's GatewayType.
const (
	gwOnPremises         = "OnPremises"
	gwPersonal           = "OnPremisesPersonal"
	gwVirtualNetwork     = "VirtualNetwork"
	gwStreamingVNet      = "StreamingVirtualNetwork"
	fabricGatewayVersion = "3000.1.1"
)

// FabricOptions configures a Fabric emulator.
type FabricOptions struct {
	// Authorize checks a request's credentials. nil accepts any
	// "Authorization: Bearer x"; otherwise an error wrapping ErrDenied is
	// answered with 403 and any other error with 401, both with a Fabric
	// ErrorResponse.
	Authorize func(r *http.Request) error
	Logger    *slog.Logger     // may be nil
	Now       func() time.Time // may be nil
	// PageSize, when above 0, pages List Connections, List Gateways and
	// List Connection Role Assignments as Fabric does: a list of more items
	// answers PageSize of them with a continuationToken and a
	// continuationUri (https://<the request's host><its
	// path>?continuationToken=<token>) that answers the next page. A token
	// the emulator did not give for that list answers 400
	// InvalidContinuationToken. 0: whole lists.
	PageSize int
	// Owner, when set, is the object id (a token's oid claim) of the
	// identity that is listed as the Owner of every connection added, with
	// principal type ServicePrincipal: Fabric lists a connection's creator
	// as its Owner. StartStack sets it to the registered app's
	// (TokenObjectID(Stack.ClientID)).
	Owner string
}

// Fabric emulates the Fabric REST API's connections, gateways and
// long-running operations under /v1. It holds gateways — on-premises
// clusters whose every member has its own RSA key, personal gateways,
// virtual-network ones — and connections through them or in the cloud.
// A credentials PATCH is taken the way the service takes it: on-premises
// credentials must come encrypted for each enabled member of the cluster,
// each member decrypting its own with its private key; cloud and
// virtual-network ones come typed, in clear. Unless skipTestConnection,
// the new credential is tried against a backend per connection
// (SetConnectionBackend, SetConnectionReachable, SetGatewayOnline), as is
// the stored one by Test Connection, which answers at once or as a
// long-running operation (SetTestMode). Connection role assignments are
// kept per connection. Request bodies are validated against the swagger
// embedded from swagger/fabric, and the tests hold the answers to it. It
// is safe for concurrent use.
type Fabric struct {
	authorize func(*http.Request) error
	log       *slog.Logger
	now       func() time.Time
	spec      *apiSpec
	faults    Faults
	owner     string
	pageSize  atomic.Int64

	mu          sync.Mutex
	gateways    map[string]*fabGateway    // by lower-case id
	connections map[string]*fabConnection // by lower-case id
	operations  map[string]*fabOperation  // by lower-case id
	requests    []RequestRecord
}

type fabGateway struct {
	id      string
	kind    string       // gwOnPremises, …
	members []*fabMember // a cluster's, the primary first; a personal gateway's one key, with the gateway's id
	pending []*fabMember // AddMemberAfterList's, added once Members has been listed
	offline bool         // SetGatewayOnline(false)
}

type fabMember struct {
	id       string
	bits     int
	key      *rsa.PrivateKey
	disabled bool
}

type fabConnection struct {
	FabricConnection
	sso, encryption string // credentialDetails.singleSignOnType, connectionEncryption
	skipTest        bool   // the last PATCH's skipTestConnection
	created         time.Time
	history         []FabricReceived
	refused         int
	roles           []FabricRoleAssignment
	// The data source behind the connection: accept is the credential
	// fields it takes (nil: whatever was pushed last), unreachable that it
	// cannot be reached at all.
	accept      map[string]string
	unreachable bool
	testPolls   int // SetTestMode's
}

// FabricConnection is a connection as Get Connection reports it. A zero
// DisplayName reports "emulated-" and the first 8 characters of the id; a
// zero Type "SQL"; a zero Path an emulated server and database; a zero
// PrivacyLevel "Organizational".
type FabricConnection struct {
	ID          string
	DisplayName string
	// GatewayID is the gateway of an on-premises, personal or
	// virtual-network connection, added before. A ShareableCloud
	// connection may name a gateway id that is no gateway, as Fabric's
	// listings do, or none.
	GatewayID string
	// ConnectivityType is one of ShareableCloud, OnPremisesGateway,
	// OnPremisesGatewayPersonal, VirtualNetworkGateway,
	// StreamingVirtualNetworkGateway.
	ConnectivityType string
	// CredentialType is any of the swagger's CredentialType (Basic,
	// Windows, OAuth2, …): what the connection holds now. PATCHes may
	// change it, to a type allowed on the connectivity type.
	CredentialType string
	Type, Path     string // connectionDetails
	PrivacyLevel   string
}

// FabricReceived is a credential a connection accepted.
type FabricReceived struct {
	CredentialType string
	// Plain holds the decrypted credentials documents of an on-premises
	// connection: by member id for a cluster (enabled members only), under
	// "" for a personal gateway. nil for cloud and virtual-network ones.
	Plain map[string]string
	// Typed is the credentials object of a cloud or virtual-network
	// connection as it was sent, JSON; "" for on-premises ones.
	Typed string
	// Fields are the credential's fields, name → value: the credentialData
	// names of the documents on-premises (username, password, key, token),
	// the typed credentials' property names otherwise (username,
	// servicePrincipalSecret, privateKey, …; credentialType left out).
	Fields             map[string]string
	SkipTestConnection *bool // as sent; nil when absent
	At                 time.Time
	Start              time.Time // when the PATCH arrived
	Agent              string    // its User-Agent, as Received.Agent
}

// FabricRoleAssignment is a connection role assignment. PrincipalType is
// User, Group, ServicePrincipal or ServicePrincipalProfile; Role is Owner,
// User or UserWithReshare. ID is the assignment's id, which Fabric makes
// the principal's id; SetRoleAssignments fills it so when empty.
type FabricRoleAssignment struct {
	ID, PrincipalID, PrincipalType, Role string
}

// NewFabric returns an emulator with no gateways and no connections.
func NewFabric(o FabricOptions) *Fabric {
	spec, err := loadFabricSpec(fabricSwagger, fabricSwaggerRoot)
	if err != nil {
		panic(err) // the embedded files are copied and tested; failing here is a build defect
	}
	f := &Fabric{
		authorize:   o.Authorize,
		log:         o.Logger,
		now:         o.Now,
		spec:        spec,
		owner:       o.Owner,
		gateways:    map[string]*fabGateway{},
		connections: map[string]*fabConnection{},
		operations:  map[string]*fabOperation{},
	}
	f.pageSize.Store(int64(o.PageSize))
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("component", "emulator.fabric")
	if f.now == nil {
		f.now = time.Now
	}
	return f
}

// TokenObjectID is the oid claim of the tokens a TokenIssuer issues for
// clientID: the object id under which Fabric lists that identity in role
// assignments.
func TokenObjectID(clientID string) string { return objectID(clientID) }

// newMember generates a member's key pair, outside the lock: RSA key
// generation is slow.
func newMember(gatewayID, memberID string, bits int) (*fabMember, error) {
	if !validUUID(memberID) {
		return nil, fmt.Errorf("emulator: gateway %s: member id %q is not a UUID", gatewayID, memberID)
	}
	if bits < 1024 {
		return nil, fmt.Errorf("emulator: gateway %s: member %s: %d-bit keys are too small", gatewayID, memberID, bits)
	}
	key, err := ciphertest.GenerateKey(bits)
	if err != nil {
		return nil, fmt.Errorf("emulator: gateway %s: member %s: %w", gatewayID, memberID, err)
	}
	return &fabMember{id: memberID, bits: bits, key: key}, nil
}

// AddClusterGateway adds an on-premises gateway cluster whose members have
// the ids memberIDs, the first the primary (whose id is usually the
// gateway's), each with a new RSA key pair of bits[i] bits — or of bits[0]
// for all when bits has one element. 1024 exercises the segmented scheme,
// 2048 and more the hybrid one.
func (f *Fabric) AddClusterGateway(gatewayID string, memberIDs []string, bits []int) error {
	if len(memberIDs) == 0 {
		return fmt.Errorf("emulator: gateway %s: a cluster needs a member", gatewayID)
	}
	if len(bits) != 1 && len(bits) != len(memberIDs) {
		return fmt.Errorf("emulator: gateway %s: %d key sizes for %d members", gatewayID, len(bits), len(memberIDs))
	}
	g := &fabGateway{id: gatewayID, kind: gwOnPremises}
	for i, id := range memberIDs {
		if slices.ContainsFunc(g.members, func(m *fabMember) bool { return strings.EqualFold(m.id, id) }) {
			return fmt.Errorf("emulator: gateway %s: member %s twice", gatewayID, id)
		}
		m, err := newMember(gatewayID, id, bits[min(i, len(bits)-1)])
		if err != nil {
			return err
		}
		g.members = append(g.members, m)
	}
	return f.addGateway(g)
}

// AddPersonalGateway adds an on-premises gateway in personal mode, with a
// new RSA key pair of bits.
func (f *Fabric) AddPersonalGateway(id string, bits int) error {
	m, err := newMember(id, id, bits)
	if err != nil {
		return err
	}
	return f.addGateway(&fabGateway{id: id, kind: gwPersonal, members: []*fabMember{m}})
}

// AddVNetGateway adds a virtual-network gateway: no keys, its connections
// take credentials in clear.
func (f *Fabric) AddVNetGateway(id string) error {
	return f.addGateway(&fabGateway{id: id, kind: gwVirtualNetwork})
}

// AddStreamingVNetGateway adds a streaming virtual-network gateway, for
// StreamingVirtualNetworkGateway connections.
func (f *Fabric) AddStreamingVNetGateway(id string) error {
	return f.addGateway(&fabGateway{id: id, kind: gwStreamingVNet})
}

func (f *Fabric) addGateway(g *fabGateway) error {
	if !validUUID(g.id) {
		return fmt.Errorf("emulator: gateway id %q is not a UUID", g.id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := strings.ToLower(g.id)
	if f.gateways[k] != nil {
		return fmt.Errorf("emulator: gateway %s already exists", g.id)
	}
	for _, c := range f.connections {
		if c.ConnectivityType == FabricShareableCloud && strings.EqualFold(c.GatewayID, g.id) {
			return fmt.Errorf("emulator: %s is the gateway id of cloud connection %s", g.id, c.ID)
		}
	}
	f.gateways[k] = g
	return nil
}

// clusterLocked returns the on-premises cluster gatewayID; the lock is held.
func (f *Fabric) clusterLocked(gatewayID string) (*fabGateway, error) {
	g := f.gateways[strings.ToLower(gatewayID)]
	switch {
	case g == nil:
		return nil, fmt.Errorf("emulator: no gateway %s", gatewayID)
	case g.kind != gwOnPremises:
		return nil, fmt.Errorf("emulator: gateway %s is %s, not an on-premises cluster", gatewayID, g.kind)
	}
	return g, nil
}

func (g *fabGateway) member(id string) (int, *fabMember) {
	for i, m := range g.members {
		if strings.EqualFold(m.id, id) {
			return i, m
		}
	}
	return -1, nil
}

// AddMember adds a member with a new key pair of bits to a cluster, as
// installing a gateway into it does: from then on, on-premises PATCHes
// must carry its value too.
func (f *Fabric) AddMember(gatewayID, memberID string, bits int) error {
	m, err := newMember(gatewayID, memberID, bits)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.clusterLocked(gatewayID)
	if err != nil {
		return err
	}
	if _, dup := g.member(memberID); dup != nil || slices.ContainsFunc(g.pending, func(p *fabMember) bool { return strings.EqualFold(p.id, memberID) }) {
		return fmt.Errorf("emulator: gateway %s already has member %s", gatewayID, memberID)
	}
	g.members = append(g.members, m)
	return nil
}

// AddMemberAfterList is a fault of the Fabric API: the member (with a new
// key pair of bits) joins the cluster right after the next List Gateway
// Members of it has been answered, so that the PATCH a client builds from
// that answer lacks the member's value and is refused, and the next
// listing names it.
func (f *Fabric) AddMemberAfterList(gatewayID, memberID string, bits int) error {
	m, err := newMember(gatewayID, memberID, bits)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.clusterLocked(gatewayID)
	if err != nil {
		return err
	}
	if _, dup := g.member(memberID); dup != nil || slices.ContainsFunc(g.pending, func(p *fabMember) bool { return strings.EqualFold(p.id, memberID) }) {
		return fmt.Errorf("emulator: gateway %s already has member %s", gatewayID, memberID)
	}
	g.pending = append(g.pending, m)
	return nil
}

// SetMemberEnabled enables or disables a cluster member. A disabled member
// is listed with enabled false; PATCHes need no value for it, and one sent
// is ignored.
func (f *Fabric) SetMemberEnabled(gatewayID, memberID string, enabled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.clusterLocked(gatewayID)
	if err != nil {
		return err
	}
	_, m := g.member(memberID)
	if m == nil {
		return fmt.Errorf("emulator: gateway %s has no member %s", gatewayID, memberID)
	}
	m.disabled = !enabled
	return nil
}

// RemoveMember removes a member from a cluster; a PATCH that still
// carries its value is refused. The last member cannot be removed.
func (f *Fabric) RemoveMember(gatewayID, memberID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.clusterLocked(gatewayID)
	if err != nil {
		return err
	}
	i, m := g.member(memberID)
	switch {
	case m == nil:
		return fmt.Errorf("emulator: gateway %s has no member %s", gatewayID, memberID)
	case len(g.members) == 1:
		return fmt.Errorf("emulator: gateway %s: %s is its last member", gatewayID, memberID)
	}
	g.members = slices.Delete(g.members, i, i+1)
	return nil
}

// RotateMemberKey gives a member (of a cluster, or a personal gateway by
// its own id) a new key pair of the same size, as reinstalling it does:
// credentials encrypted for the old key no longer decrypt.
func (f *Fabric) RotateMemberKey(gatewayID, memberID string) error {
	f.mu.Lock()
	var m *fabMember
	if g := f.gateways[strings.ToLower(gatewayID)]; g != nil {
		_, m = g.member(memberID)
	}
	f.mu.Unlock()
	if m == nil {
		return fmt.Errorf("emulator: gateway %s has no member %s", gatewayID, memberID)
	}
	key, err := ciphertest.GenerateKey(m.bits)
	if err != nil {
		return fmt.Errorf("emulator: gateway %s: member %s: %w", gatewayID, memberID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m.key = key
	return nil
}

// SetGatewayOnline sets whether a gateway answers. Test Connection of a
// connection through an offline gateway reports it gone
// (DM_GWPipeline_UnknownError naming GatewayNotFound), and a PATCH that
// tests its credential is refused with UpdateGatewayConnectionFailed; one
// with skipTestConnection is stored.
func (f *Fabric) SetGatewayOnline(gatewayID string, online bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.gateways[strings.ToLower(gatewayID)]
	if g == nil {
		return fmt.Errorf("emulator: no gateway %s", gatewayID)
	}
	g.offline = !online
	return nil
}

// gatewayKindFor is the gateway type a connectivity type goes through; ""
// for cloud, false for one the emulator does not serve.
func gatewayKindFor(connectivity string) (string, bool) {
	switch connectivity {
	case FabricShareableCloud:
		return "", true
	case FabricOnPremisesGateway:
		return gwOnPremises, true
	case FabricOnPremisesGatewayPersonal:
		return gwPersonal, true
	case FabricVirtualNetworkGateway:
		return gwVirtualNetwork, true
	case FabricStreamingVirtualNetworkGateway:
		return gwStreamingVNet, true
	}
	return "", false
}

// AddConnection adds a connection. Its gateway, unless it is a cloud one,
// must have been added before, of the type its connectivity goes through.
func (f *Fabric) AddConnection(c FabricConnection) error {
	if !validUUID(c.ID) {
		return fmt.Errorf("emulator: connection id %q is not a UUID", c.ID)
	}
	kind, ok := gatewayKindFor(c.ConnectivityType)
	if !ok {
		return fmt.Errorf("emulator: connection %s: connectivity type %q is not one of ShareableCloud, OnPremisesGateway, OnPremisesGatewayPersonal, VirtualNetworkGateway, StreamingVirtualNetworkGateway", c.ID, c.ConnectivityType)
	}
	if !fabricCredentialType(c.CredentialType) {
		return fmt.Errorf("emulator: connection %s: credential type %q is not one of the swagger's CredentialType", c.ID, c.CredentialType)
	}
	if c.GatewayID != "" && !validUUID(c.GatewayID) {
		return fmt.Errorf("emulator: connection %s: gateway id %q is not a UUID", c.ID, c.GatewayID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := strings.ToLower(c.ID)
	if f.connections[k] != nil {
		return fmt.Errorf("emulator: connection %s already exists", c.ID)
	}
	g := f.gateways[strings.ToLower(c.GatewayID)]
	switch {
	case kind == "" && g != nil:
		return fmt.Errorf("emulator: cloud connection %s: %s is a real gateway", c.ID, c.GatewayID)
	case kind != "" && g == nil:
		return fmt.Errorf("emulator: connection %s: no gateway %q (add it first)", c.ID, c.GatewayID)
	case kind != "" && g.kind != kind:
		return fmt.Errorf("emulator: connection %s: %s goes through a %s gateway; %s is %s", c.ID, c.ConnectivityType, kind, c.GatewayID, g.kind)
	}
	conn := &fabConnection{FabricConnection: c, sso: "None", encryption: "NotEncrypted", created: f.now()}
	if g != nil {
		conn.GatewayID = g.id
	}
	if f.owner != "" {
		conn.roles = []FabricRoleAssignment{{ID: f.owner, PrincipalID: f.owner, PrincipalType: "ServicePrincipal", Role: "Owner"}}
	}
	f.connections[k] = conn
	return nil
}

// editConnection runs edit on a connection under the lock.
func (f *Fabric) editConnection(id string, edit func(*fabConnection) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.connections[strings.ToLower(id)]
	if c == nil {
		return fmt.Errorf("emulator: no connection %s", id)
	}
	return edit(c)
}

// SetConnectionBackend sets the credential fields the data source behind a
// connection accepts, by the names of FabricReceived.Fields: the
// credentialData names on-premises (username, password), the typed
// credentials' names otherwise (tenantId, servicePrincipalClientId,
// servicePrincipalSecret). Tests of any other credential are refused as a
// failed login. nil, the default, accepts whatever was pushed last.
func (f *Fabric) SetConnectionBackend(id string, accept map[string]string) error {
	return f.editConnection(id, func(c *fabConnection) error { c.accept = maps.Clone(accept); return nil })
}

// SetConnectionReachable sets whether the data source behind a connection
// can be reached; an unreachable one fails tests with SQL Server's network
// error, whatever the credential.
func (f *Fabric) SetConnectionReachable(id string, reachable bool) error {
	return f.editConnection(id, func(c *fabConnection) error { c.unreachable = !reachable; return nil })
}

// SetTestMode sets how Test Connection answers for a connection: polls 0,
// the default, answers 200 with the status at once; polls N > 0 answers
// 202 with a long-running operation whose state is Running for N-1 polls
// and Succeeded from the Nth, its result the status found when it was
// started.
func (f *Fabric) SetTestMode(id string, polls int) error {
	if polls < 0 {
		return fmt.Errorf("emulator: connection %s: %d polls", id, polls)
	}
	return f.editConnection(id, func(c *fabConnection) error { c.testPolls = polls; return nil })
}

// SetRoleAssignments replaces a connection's role assignments, e.g. to
// start a test with drift. An empty ID becomes the PrincipalID.
func (f *Fabric) SetRoleAssignments(connectionID string, ras []FabricRoleAssignment) error {
	ras = slices.Clone(ras)
	for i := range ras {
		if ras[i].ID == "" {
			ras[i].ID = ras[i].PrincipalID
		}
		if !validUUID(ras[i].ID) || !validUUID(ras[i].PrincipalID) {
			return fmt.Errorf("emulator: connection %s: role assignment %q of principal %q: not UUIDs", connectionID, ras[i].ID, ras[i].PrincipalID)
		}
		if !fabricPrincipalType(ras[i].PrincipalType) || !fabricRole(ras[i].Role) {
			return fmt.Errorf("emulator: connection %s: principal type %q, role %q: want User, Group, ServicePrincipal or ServicePrincipalProfile; Owner, User or UserWithReshare",
				connectionID, ras[i].PrincipalType, ras[i].Role)
		}
	}
	return f.editConnection(connectionID, func(c *fabConnection) error { c.roles = ras; return nil })
}

// RoleAssignments returns a connection's role assignments, in the order
// they were made.
func (f *Fabric) RoleAssignments(connectionID string) []FabricRoleAssignment {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.connections[strings.ToLower(connectionID)]; c != nil && len(c.roles) > 0 {
		return slices.Clone(c.roles)
	}
	return nil
}

// Credential returns the latest credential a connection accepted.
func (f *Fabric) Credential(connectionID string) (FabricReceived, bool) {
	h := f.History(connectionID)
	if len(h) == 0 {
		return FabricReceived{}, false
	}
	return h[len(h)-1], true
}

// History returns every credential a connection accepted, oldest first.
func (f *Fabric) History(connectionID string) []FabricReceived {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.connections[strings.ToLower(connectionID)]
	if c == nil {
		return nil
	}
	out := make([]FabricReceived, len(c.history))
	for i, r := range c.history {
		r.Plain = maps.Clone(r.Plain)
		r.Fields = maps.Clone(r.Fields)
		out[i] = r
	}
	return out
}

// RefusedUpdates returns how many credentials PATCHes of a connection were
// refused after it was found: bad credentials, stale keys, failed tests.
func (f *Fabric) RefusedUpdates(connectionID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.connections[strings.ToLower(connectionID)]; c != nil {
		return c.refused
	}
	return 0
}

// SetPageSize changes FabricOptions.PageSize for the requests to come.
func (f *Fabric) SetPageSize(n int) { f.pageSize.Store(int64(n)) }

// Faults returns the faults injected into operations named by swagger
// operationId (OpFabricUpdateConnection, …). EchoSecret applies to
// OpFabricUpdateConnection: the 400 quotes the credential's fields.
func (f *Fabric) Faults() *Faults { return &f.faults }

// Requests returns every request answered so far, oldest first.
func (f *Fabric) Requests() []RequestRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// fabricCredentialType reports whether t is one of the swagger's
// CredentialType values.
func fabricCredentialType(t string) bool {
	switch t {
	case "Windows", "Anonymous", "Basic", "Key", "OAuth2", "WindowsWithoutImpersonation",
		"SharedAccessSignature", "ServicePrincipal", "WorkspaceIdentity", "KeyPair":
		return true
	}
	return false
}

func fabricPrincipalType(t string) bool {
	switch t {
	case "User", "Group", "ServicePrincipal", "ServicePrincipalProfile":
		return true
	}
	return false
}

func fabricRole(r string) bool {
	switch r {
	case "Owner", "User", "UserWithReshare":
		return true
	}
	return false
}
