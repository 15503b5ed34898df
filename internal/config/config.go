package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/safefile"
	"github.com/rotatord/rotatord/internal/scheduler"
	"github.com/rotatord/rotatord/internal/sources"
)

// Config is a validated inventory with every default applied. It is never
// modified after Parse returns it: a reload builds a new one.
type Config struct {
	Path      string // the file name errors and logs use
	PowerBI   PowerBI
	Fabric    Fabric // for data sources with a connection_id
	Auth      Auth
	KeyVaults map[string]string // inventory name → vault URL (https)
	Listen    string            // host:port for /metrics /healthz /readyz
	StateFile string
	// StateBlob, when set, holds the state instead of StateFile: an
	// https URL of a blob the processes of an HA pair share.
	StateBlob   string
	HA          HA           // leader election; zero: one process, no lease
	Discover    Discover     // run's inventory drift check
	Datasources []Datasource // in file order, defaults applied
	Hash        [32]byte     // sha256 of the file; a reload of an unchanged file is skipped
	Lines       Lines        // where the settings used at start were written

	byName map[string]int // Datasources' positions by name; see indexNames
}

// Lines says where the settings that can only be judged when rotatord
// starts were written, so that a refusal then (a state directory, a port
// in use, an unreadable client secret file) names FILE:LINE as check does.
// A zero line means the built-in default.
type Lines struct {
	StateFile        int
	StateBlob        int
	HA               int // the ha key
	Listen           int
	Auth             int // auth.method, else the auth key
	ClientSecretFile int
	KeyVaults        map[string]int // by inventory name
}

// At returns err prefixed with where line is in the file: FILE:LINE, or
// FILE when line is 0 (a default). err stays in the chain for errors.As.
func (c *Config) At(line int, err error) error {
	if line <= 0 {
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	return fmt.Errorf("%s:%d: %w", c.Path, line, err)
}

// PowerBI is where and how rotatord calls the Power BI REST API.
type PowerBI struct {
	APIURL         string // https, without a trailing slash
	Scope          string // the token scope for Power BI calls
	MaxConcurrency int    // requests in flight to each service (Power BI, Key Vault, the token endpoint), at least 1
}

// Fabric is where and how rotatord calls the Fabric REST API, which
// serves the data sources written with a connection_id.
type Fabric struct {
	APIURL         string // https, without a trailing slash
	Scope          string // the token scope for Fabric calls
	MaxConcurrency int    // Fabric requests in flight, 1 to MaxFabricConcurrency
	Declared       bool   // the inventory has a fabric: block
}

// UsesFabric reports whether the inventory reaches Fabric's API: it has a
// fabric: block or a connection_id entry. An inventory of Power BI data
// sources alone never calls Fabric, not even to discover.
func (c *Config) UsesFabric() bool {
	return c.Fabric.Declared || slices.ContainsFunc(c.Datasources, Datasource.Fabric)
}

// HA is the leader election of several processes on one inventory: the
// one holding the lease on LeaseBlob rotates, the others stand by.
type HA struct {
	LeaseBlob     string        // https URL of the blob whose lease is the lock
	LeaseDuration time.Duration // 15s to 60s, Azure's bounds for a lease
}

// Enabled reports whether the inventory asks for leader election.
func (h HA) Enabled() bool { return h.LeaseBlob != "" }

// Discover is what `run` compares the inventory with, and how often: the
// discover_every, discover_gateways and discover_workspaces keys, which
// `rotatord discover --diff` also reads when given no -gateway or -workspace.
type Discover struct {
	Every      time.Duration // 0: run does not look for drift
	Gateways   []string      // UUIDs; empty: every gateway the identity administers
	Workspaces []string      // UUIDs of workspaces whose datasets' data sources count too
}

// Auth is the identity rotatord uses for Power BI, Key Vault and oauth_scope
// tokens. Method is one of sources.AuthMethods; the other fields are empty
// unless set, and only set where Method reads them.
type Auth struct {
	Method           sources.AuthMethod
	TenantID         string
	ClientID         string
	ClientSecretFile string // client_secret only: a path, never the secret
	AuthorityHost    string // https URL of a sovereign cloud's authority
}

// Retry is how often and how patiently a failed rotation is retried within
// one tick: the scheduler's own type, which Parse fills in (attempts at
// least 1, initial backoff positive and at most the maximum).
type Retry = scheduler.Retry

// Datasource is one data source whose credential rotatord keeps fresh: a
// Power BI gateway data source (GatewayID and DatasourceID) or a Fabric
// connection (ConnectionID), never both.
type Datasource struct {
	Name           string // unique in the inventory; the metric label
	GatewayID      string // UUID; empty for a Fabric connection
	DatasourceID   string // UUID; empty for a Fabric connection
	ConnectionID   string // UUID of a Fabric connection; empty for a Power BI data source
	CredentialType credentials.Type
	// Encrypt is how a Power BI data source's credential is sent; empty
	// for a Fabric connection, whose connectivity type decides.
	Encrypt      EncryptMode
	Schedule     string // a cron spec that parses: 5 fields, @hourly..., or @every D
	Jitter       time.Duration
	PrivacyLevel string // None, Public, Organizational or Private
	// EncryptedConnection is Encrypted or NotEncrypted.
	EncryptedConnection string
	Retry               Retry
	SkipUnchanged       bool // skip the PATCH when the Key Vault versions did not change; only set with a Key Vault source
	Prune               bool // remove users the inventory does not declare
	// Verify asks the service after every PATCH whether the gateway
	// connects with the new credential.
	Verify bool
	// Rollback pushes the last verified Key Vault version again when the
	// new credential is rejected; only set when every secret field is read
	// from Key Vault, the one source with versions, and Verify is on.
	Rollback bool
	// VerifyEvery is how often run checks the credential between
	// rotations; 0 is never.
	VerifyEvery time.Duration
	Source      Source
	Users       []User
	Line        int // line of the data source's list item, for messages
}

// Fabric reports whether d is a Fabric connection, rotated through
// Fabric's REST API, rather than a Power BI gateway data source.
func (d Datasource) Fabric() bool { return d.ConnectionID != "" }

// PinnedVersion returns the Key Vault version the inventory's version: key
// pins field to, or "" for the latest: version: pins the one secret field
// the shorthand keys (secret, file, env) name, never a user name, a
// passphrase or a tenant ID.
func (d Datasource) PinnedVersion(field string) string {
	if field != "" && field == secretField(d.CredentialType) {
		return d.Source.Version
	}
	return ""
}

// EncryptMode is how a data source's credential is sent: the inventory's
// encrypt key.
type EncryptMode string

// The encrypt modes; the inventory accepts exactly these.
const (
	EncryptGateway EncryptMode = "gateway" // on-premises: RSA with the gateway's public key
	EncryptNone    EncryptMode = "none"    // cloud: no gateway key exists, the credentials go as plain JSON
)

// Source says where each credential field of a data source comes from.
type Source struct {
	KeyVault   string // a name under keyvaults:, set when some field is a Key Vault secret
	Version    string // pinned version of the secret field's Key Vault secret; empty means latest
	OAuthScope string // OAuth2 only: rotatord gets the token itself; Fields is then empty
	// Fields says where each credential field (username, password, key,
	// token, access_token, tenant_id, ...) is. Shorthand keys are
	// resolved: a Key data source's `file: P` is the field "key".
	Fields Fields
}

// Fields are a data source's credential field references, sorted by field
// name. A slice rather than a map: a map of one or two entries costs ~380
// bytes, which a fleet of 10,000 data sources pays in megabytes.
type Fields []Field

// Field is where one credential field's value is.
type Field struct {
	Name string // a credentials field: username, password, key, token, access_token, tenant_id, ...
	Ref
}

// Get returns where field name is, and whether the source sets it.
func (fs Fields) Get(name string) (Ref, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Ref, true
		}
	}
	return Ref{}, false
}

// set adds or replaces field name, keeping the order.
func (fs Fields) set(name string, ref Ref) Fields {
	i, found := slices.BinarySearchFunc(fs, name, func(f Field, name string) int { return strings.Compare(f.Name, name) })
	if found {
		fs[i].Ref = ref
		return fs
	}
	return slices.Insert(fs, i, Field{name, ref})
}

// Ref locates one credential field's value.
type Ref struct {
	Kind RefKind
	Name string // the literal value, Key Vault secret name, file path or environment variable
}

// RefKind is where a Ref points.
type RefKind int

// The places a credential field can come from. Only the fields
// credentials.IsLiteral names may be literal.
const (
	RefLiteral RefKind = iota
	RefKeyVault
	RefFile
	RefEnv
)

// String returns the kind as the inventory spells its key suffix.
func (k RefKind) String() string {
	switch k {
	case RefLiteral:
		return "literal"
	case RefKeyVault:
		return "secret"
	case RefFile:
		return "file"
	case RefEnv:
		return "env"
	}
	return fmt.Sprintf("RefKind(%d)", int(k))
}

// User is a user the data source should have. A Power BI data source's
// users have an Access right; a Fabric connection's are role assignments:
// an Identifier, a PrincipalType and a Role, never an Email, Access or
// DisplayName.
type User struct {
	Email         string // exactly one of Email and Identifier is set; never on a Fabric connection
	Identifier    string // object ID (a UUID for App, and on a Fabric connection)
	PrincipalType string // None, User, Group or App; on a Fabric connection User, Group, ServicePrincipal or ServicePrincipalProfile
	Access        string // Read or ReadOverrideEffectiveIdentity; empty on a Fabric connection
	DisplayName   string
	Role          string // a Fabric connection's only: Owner, User or UserWithReshare
}

// ID returns what names u to Power BI: its email, else its identifier.
func (u User) ID() string { return pbi.UserID(u.Email, u.Identifier) }

// Key identifies u's principal as Power BI compares them, for duplicate
// checks and for matching u with the users a data source has.
func (u User) Key() string { return pbi.UserKey(u.Email, u.Identifier) }

// MaxSize is the largest inventory Load reads: 64 MiB holds some 245,000
// data sources of the README's measured shape. Past it a file is refused unread, since a path that names
// /dev/zero or a runaway generator's output would otherwise be read until
// the kernel kills the process.
const MaxSize = 64 << 20

// Read reads the inventory file at path: a regular file (not a FIFO, not a
// device) of at most MaxSize bytes, given up on when ctx is done.
func Read(ctx context.Context, path string) ([]byte, error) {
	data, err := safefile.ReadFile(ctx, path, safefile.Rules{MaxSize: MaxSize})
	switch {
	case errors.Is(err, safefile.ErrTooLarge):
		return nil, fmt.Errorf("read config: %w: split the data sources between inventories, one rotatord each", err)
	case errors.Is(err, safefile.ErrNotRegular):
		return nil, fmt.Errorf("read config: %w: the inventory must be a regular file", err)
	case err != nil:
		return nil, fmt.Errorf("read config: %w", err)
	}
	return data, nil
}

// Load reads the inventory at path with Read and parses it. A file that
// cannot be opened returns the *os.PathError (wrapped), a refused one the
// *safefile.Error, and a file that can be read Parse's result.
func Load(ctx context.Context, path string) (*Config, error) {
	data, err := Read(ctx, path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse validates the inventory in data and returns it with defaults
// applied. name is the file name used in messages and Config.Path. On
// failure the error is a *Errors listing every problem, sorted by line.
func Parse(name string, data []byte) (*Config, error) {
	return parse(&parser{file: name}, data)
}

// ParseSettings is Parse for an inventory whose data sources may be
// missing or an empty list: the settings `rotatord discover` starts from
// (its auth, vaults and defaults) before there is any data source.
func ParseSettings(name string, data []byte) (*Config, error) {
	return parse(&parser{file: name, settings: true}, data)
}

func parse(p *parser, data []byte) (*Config, error) {
	name := p.file
	cfg := p.inventory(data)
	if len(p.errs) > 0 {
		errs := p.errs.finish()
		return nil, &errs
	}
	cfg.Path = name
	cfg.Hash = sha256.Sum256(data)
	return cfg, nil
}

// indexNames records where each data source sits, for Datasource: every
// tick looks its data source up by name, and a linear search made a fleet of
// 10,000 quadratic.
func (c *Config) indexNames() {
	c.byName = make(map[string]int, len(c.Datasources))
	for i, ds := range c.Datasources {
		c.byName[ds.Name] = i
	}
}

// Datasource returns the data source called name.
func (c *Config) Datasource(name string) (Datasource, bool) {
	if c.byName != nil {
		if i, ok := c.byName[name]; ok {
			return c.Datasources[i], true
		}
		return Datasource{}, false
	}
	// A Config not made by Parse (tests build them by hand) has no index.
	for _, ds := range c.Datasources {
		if ds.Name == name {
			return ds, true
		}
	}
	return Datasource{}, false
}

// LogValue is what a log line shows of a Config: a summary that holds no
// secret and no per-data-source detail.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("path", c.Path),
		slog.String("sha256", hex.EncodeToString(c.Hash[:6])),
		slog.Int("datasources", len(c.Datasources)),
		slog.Int("keyvaults", len(c.KeyVaults)),
		slog.String("listen", c.Listen),
		slog.String("auth_method", string(c.Auth.Method)),
	)
}

// Builtin returns the settings an inventory gets for every key it leaves
// out, with no data sources: what `rotatord discover` runs on without a
// config. path names it in messages.
func Builtin(path string) *Config {
	cfg := &Config{
		Path:      path,
		PowerBI:   PowerBI{APIURL: DefaultAPIURL, Scope: DefaultScope, MaxConcurrency: DefaultMaxConcurrency},
		Fabric:    Fabric{APIURL: DefaultFabricAPIURL, Scope: DefaultFabricScope, MaxConcurrency: DefaultFabricMaxConcurrency},
		Auth:      Auth{Method: DefaultAuthMethod},
		KeyVaults: map[string]string{},
		Listen:    DefaultListen,
		StateFile: DefaultStateFile,
	}
	cfg.indexNames()
	return cfg
}
