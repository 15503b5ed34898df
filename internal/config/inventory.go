package config

import (
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/sources"
)

// Built-in values for keys an inventory may leave out.
const (
	DefaultAPIURL         = pbi.DefaultAPIURL
	DefaultScope          = pbi.DefaultScope
	DefaultMaxConcurrency = 8
	DefaultAuthMethod     = sources.MethodDefault
	DefaultListen         = "127.0.0.1:9464"
	DefaultStateFile      = "/var/lib/rotatord/state.json"
	DefaultLeaseDuration  = 30 * time.Second
	// MinLeaseDuration and MaxLeaseDuration are Azure Storage's bounds for
	// a blob lease with a duration.
	MinLeaseDuration = 15 * time.Second
	MaxLeaseDuration = 60 * time.Second

	DefaultFabricAPIURL         = "https://api.fabric.microsoft.com/v1"
	DefaultFabricScope          = "https://api.fabric.microsoft.com/.default"
	DefaultFabricMaxConcurrency = 8
	// MaxFabricConcurrency bounds fabric.max_concurrency: Fabric throttles
	// per identity, and more requests in flight only buy more 429s.
	MaxFabricConcurrency = 64
)

var (
	topKeys  = []string{"powerbi", "fabric", "auth", "keyvaults", "listen", "state_file", "state_blob", "ha", "discover_every", "discover_gateways", "discover_workspaces", "defaults", "datasources"}
	apiKeys  = []string{"api_url", "scope", "max_concurrency"} // powerbi: and fabric:
	authKeys = []string{"method", "tenant_id", "client_id", "client_secret_file", "authority_host"}
	haKeys   = []string{"lease_blob", "lease_duration"}
)

// inventory walks the whole file. Sections are read in dependency order,
// not file order (keyvaults and defaults before the data sources that use
// them); the problems are sorted by line at the end anyway.
func (p *parser) inventory(data []byte) *Config {
	if line, col, ok := invalidUTF8(data); ok {
		// yaml.v3 says "invalid leading UTF-8 octet" with no line at all.
		p.errorf(line, "invalid UTF-8 at column %d: save the file as UTF-8", col)
		return nil
	}
	if !p.whole {
		if head, items, ok := splitDatasources(data); ok {
			// The chunked walk reports the same problems as the whole one
			// (TestChunkedParseMatchesWhole, FuzzParse), so a large file with
			// a mistake does not pay for the whole node tree. YAML syntax
			// errors are yaml.v3's and differ once the text is cut: those,
			// and a chunk that does not parse alone, need the whole file.
			cfg, ok := p.inventoryOf(head, items)
			if ok && !p.syntax {
				if cfg != nil {
					cfg.indexNames()
				}
				return cfg
			}
			*p = parser{file: p.file, whole: true, settings: p.settings}
		}
	}
	cfg, _ := p.inventoryOf(data, nil)
	if cfg != nil {
		cfg.indexNames()
	}
	return cfg
}

// inventoryOf walks data, taking the data sources from items when there are
// any (data then has the list's lines blanked). ok is false when a chunk
// could not be parsed on its own.
func (p *parser) inventoryOf(data []byte, items []chunk) (_ *Config, ok bool) {
	root := p.document(data)
	if root == nil {
		return nil, true
	}
	top, _ := p.mapping(root, "", root.Line, topKeys...)
	cfg := Builtin("")
	if e, ok := top.get("powerbi"); ok {
		p.api(e, &cfg.PowerBI.APIURL, &cfg.PowerBI.Scope, &cfg.PowerBI.MaxConcurrency, 0)
	}
	if e, ok := top.get("fabric"); ok {
		p.api(e, &cfg.Fabric.APIURL, &cfg.Fabric.Scope, &cfg.Fabric.MaxConcurrency, MaxFabricConcurrency)
		cfg.Fabric.Declared = true
	}
	if e, ok := top.get("auth"); ok {
		p.auth(e, &cfg.Auth, &cfg.Lines)
	}
	if e, ok := top.get("keyvaults"); ok {
		cfg.KeyVaults, cfg.Lines.KeyVaults = p.keyvaults(e)
	}
	if e, ok := top.get("listen"); ok {
		if s, ok := p.required(e); ok && p.checkListen(e, s) {
			cfg.Listen, cfg.Lines.Listen = s, e.val.Line
		}
	}
	if e, ok := top.get("state_file"); ok {
		if s, ok := p.required(e); ok {
			cfg.StateFile, cfg.Lines.StateFile = s, e.val.Line
		}
	}
	p.storage(top, cfg)
	p.discover(top, &cfg.Discover)
	base := builtinPolicy()
	if e, ok := top.get("defaults"); ok {
		if m, ok := p.mapping(e.val, e.path, e.key.Line, policyKeys...); ok {
			base = p.policy(m).over(base)
			p.checkRetry(base)
			if base.rollback.v && !base.verify.v {
				p.errorf(base.rollback.line, "%s: rollback needs verify: true (line %d): only a verification can tell that a new credential is rejected", base.rollback.path, base.verify.line)
			}
		}
	}
	e, ok := top.get("datasources")
	switch {
	case ok && items != nil:
		failed := false
		cfg.Datasources = p.datasourceList(e.path, parsedChunks(items, &failed), len(items), base, cfg.KeyVaults)
		return cfg, !failed
	case (!ok || isNull(e.val)) && p.settings:
		return cfg, true
	case !ok || isNull(e.val):
		p.errorf(root.Line, "missing key \"datasources\": list the data sources to rotate")
		return cfg, true
	}
	cfg.Datasources = p.datasources(e, base, cfg.KeyVaults)
	return cfg, true
}

// storage reads state_blob and ha:, which share the state and the lock of
// several processes through Azure Storage.
func (p *parser) storage(top mapping, cfg *Config) {
	if e, ok := top.get("state_blob"); ok {
		if u, ok := p.blobURL(e); ok {
			// No state file then: none is opened, locked or named in logs.
			cfg.StateBlob, cfg.Lines.StateBlob, cfg.StateFile = u, e.val.Line, ""
		}
		if f, ok := top.get("state_file"); ok {
			// Two places for one state: whichever rotatord picked, the
			// other would be silently stale.
			p.errorf(e.key.Line, "%s: replaces state_file (line %d): keep one of them", e.path, f.key.Line)
		}
	}
	e, ok := top.get("ha")
	if !ok {
		return
	}
	cfg.Lines.HA = e.key.Line
	m, _ := p.mapping(e.val, e.path, e.key.Line, haKeys...)
	lease, ok := m.get("lease_blob")
	if !ok {
		p.errorf(m.line, "%s: missing key \"lease_blob\": the https URL of the blob whose lease elects the leader", e.path)
	} else if u, ok := p.blobURL(lease); ok {
		cfg.HA.LeaseBlob = u
		if u == cfg.StateBlob {
			p.errorf(lease.val.Line, "%s: must not be the state_blob (line %d): a leased blob refuses the state's writes", lease.path, cfg.Lines.StateBlob)
		}
	}
	cfg.HA.LeaseDuration = DefaultLeaseDuration
	if d, ok := m.get("lease_duration"); ok {
		if v, ok := p.duration(d, 0); ok && (v < MinLeaseDuration || v > MaxLeaseDuration || v%time.Second != 0) {
			p.errorf(d.val.Line, "%s: must be whole seconds from %vs to %vs (Azure's bounds for a lease), got %s", d.path, MinLeaseDuration.Seconds(), MaxLeaseDuration.Seconds(), v)
		} else if ok {
			cfg.HA.LeaseDuration = v
		}
	}
	if _, ok := top.get("state_blob"); !ok {
		// A stand-by that takes over must know what the leader did, or it
		// rotates every data source again and loses the credential ages.
		p.errorf(e.key.Line, "%s: needs state_blob: the processes share their state through it (a state_file is each machine's own)", e.path)
	}
}

// blobURL accepts the https URL of a blob: a container and a blob name
// after the host (or after the account, for a path-style emulator URL).
func (p *parser) blobURL(e entry) (string, bool) {
	s, ok := p.httpsURL(e)
	if !ok {
		return "", false
	}
	u, _ := url.Parse(s) // httpsURL parsed it
	if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) < 2 || slices.Contains(parts, "") {
		p.errorf(e.val.Line, "%s: %s names no blob: write https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB", e.path, quote(s))
		return "", false
	}
	return s, true
}

// MinDiscoverEvery is the shortest discover_every: a discovery lists every
// data source and its users, thousands of calls on a large estate.
const MinDiscoverEvery = time.Minute

// discover reads the top-level discover_* keys.
func (p *parser) discover(top mapping, out *Discover) {
	if e, ok := top.get("discover_every"); ok {
		if d, ok := p.duration(e, 0); ok && d != 0 && d < MinDiscoverEvery {
			p.errorf(e.val.Line, "%s: must be 0 (off) or at least %s, got %s", e.path, MinDiscoverEvery, d)
		} else if ok {
			out.Every = d
		}
	}
	if e, ok := top.get("discover_gateways"); ok {
		out.Gateways = p.uuids(e, "gateway")
	}
	if e, ok := top.get("discover_workspaces"); ok {
		out.Workspaces = p.uuids(e, "workspace")
	}
}

// uuids reads a list of distinct UUIDs naming what.
func (p *parser) uuids(e entry, what string) []string {
	if isNull(e.val) {
		return nil
	}
	if e.val.Kind != yaml.SequenceNode {
		p.errorf(e.val.Line, "%s: must be a list of %s ids, not %s", e.path, what, kindName(e.val))
		return nil
	}
	var out []string
	seen := map[string]int{}
	for i, item := range e.val.Content {
		n := p.resolve(item)
		s := n.Value
		switch {
		case n.Kind != yaml.ScalarNode || !pbi.IsUUID(s):
			p.errorf(n.Line, "%s: %s is not a %s id (a UUID, e.g. 1f69e798-5852-4fdd-ab01-33bb14b6e934)", indexPath(e.path, i), quote(s), what)
		case seen[strings.ToLower(s)] > 0:
			p.errorf(n.Line, "%s: duplicate %s id %s (first at line %d)", indexPath(e.path, i), what, s, seen[strings.ToLower(s)])
		default:
			seen[strings.ToLower(s)] = n.Line
			out = append(out, s)
		}
	}
	return out
}

// api reads a powerbi: or fabric: block, which say the same things of two
// APIs: their URL, token scope and concurrency. max bounds max_concurrency
// (0: no bound).
func (p *parser) api(e entry, apiURL, scope *string, maxConcurrency *int, max int) {
	m, _ := p.mapping(e.val, e.path, e.key.Line, apiKeys...)
	if e, ok := m.get("api_url"); ok {
		if u, ok := p.httpsURL(e); ok {
			*apiURL = strings.TrimSuffix(u, "/")
		}
	}
	if e, ok := m.get("scope"); ok {
		if s, ok := p.required(e); ok {
			*scope = s
		}
	}
	if e, ok := m.get("max_concurrency"); ok {
		if n, ok := p.integer(e); ok {
			switch {
			case max > 0 && (n < 1 || n > max):
				p.errorf(e.val.Line, "%s: must be 1 to %d, got %d", e.path, max, n)
			case n < 1:
				p.errorf(e.val.Line, "%s: must be at least 1, got %d", e.path, n)
			default:
				*maxConcurrency = n
			}
		}
	}
}

func (p *parser) auth(e entry, out *Auth, lines *Lines) {
	m, _ := p.mapping(e.val, e.path, e.key.Line, authKeys...)
	lines.Auth = e.key.Line
	if e, ok := m.get("method"); ok {
		lines.Auth = e.val.Line
	}
	if e, ok := m.get("client_secret_file"); ok {
		lines.ClientSecretFile = e.val.Line
	}
	// The documented skeleton writes unused keys as "", so empty means unset.
	blank := func(e entry) bool { return isNull(e.val) || (e.val.Kind == yaml.ScalarNode && e.val.Value == "") }
	if e, ok := m.get("method"); ok && !blank(e) {
		if s, ok := p.enum(e, strs(sources.AuthMethods())...); ok {
			out.Method = sources.AuthMethod(s)
		}
	}
	str := func(key string) string {
		if e, ok := m.get(key); ok {
			s, _ := p.str(e)
			return strings.TrimSpace(s)
		}
		return ""
	}
	out.TenantID, out.ClientID, out.ClientSecretFile = str("tenant_id"), str("client_id"), str("client_secret_file")
	if e, ok := m.get("authority_host"); ok && !blank(e) {
		if u, ok := p.httpsURL(e); ok {
			out.AuthorityHost = u
		}
	}
	if e, ok := m.get("client_id"); ok && out.ClientID != "" && !pbi.IsUUID(out.ClientID) {
		p.errorf(e.val.Line, "%s: %s is not a UUID (the application or managed identity client ID)", e.path, quote(out.ClientID))
	}
	if e, ok := m.get("tenant_id"); ok && out.TenantID != "" && !isTenant(out.TenantID) {
		p.errorf(e.val.Line, "%s: %s is not a tenant ID (a UUID or a domain such as contoso.onmicrosoft.com)", e.path, quote(out.TenantID))
	}
	// Keys the chosen method would silently ignore are mistakes: an operator
	// who wrote client_secret_file expects it to be used.
	for _, key := range []string{"tenant_id", "client_id", "client_secret_file"} {
		if e, ok := m.get(key); ok && str(key) != "" && !out.Method.Reads(key) {
			var users []sources.AuthMethod
			for _, method := range sources.AuthMethods() {
				if method.Reads(key) {
					users = append(users, method)
				}
			}
			p.errorf(e.key.Line, "%s: not used with method %s (only with %s)", e.path, out.Method, strings.Join(strs(users), ", "))
		}
	}
	if out.Method == sources.MethodClientSecret {
		for _, key := range []string{"tenant_id", "client_id", "client_secret_file"} {
			if str(key) == "" {
				p.errorf(m.line, "%s: method client_secret needs %s", e.path, key)
			}
		}
	}
}

func (p *parser) keyvaults(e entry) (map[string]string, map[string]int) {
	vaults, lines := map[string]string{}, map[string]int{}
	m, _ := p.keys(e.val, e.path, e.key.Line)
	for _, v := range m.entries {
		if !isName(v.name) {
			p.errorf(v.key.Line, "%s: key vault name %s must be letters, digits, '.', '_' or '-'", e.path, quote(v.name))
			continue
		}
		// Declared even when the URL is bad, so data sources naming it are
		// not also told it does not exist.
		u, ok := p.httpsURL(v)
		if pu, err := url.Parse(u); ok && err == nil && pu.Path != "" && pu.Path != "/" {
			// The Key Vault client takes the vault's URL and builds the
			// secret paths itself; run refused a path without a line.
			p.errorf(v.val.Line, "%s: %s has a path; write the vault's URL alone (e.g. https://contoso-kv.vault.azure.net/)", v.path, quote(u))
		}
		vaults[v.name], lines[v.name] = u, v.val.Line
	}
	return vaults, lines
}

// httpsURL accepts an absolute https URL: bearer tokens go to these hosts.
func (p *parser) httpsURL(e entry) (string, bool) {
	s, ok := p.required(e)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	switch {
	case err == nil && (u.User != nil || u.RawQuery != ""):
		// A password or a SAS signature may be in there: name the host only.
		p.errorf(e.val.Line, "%s: the URL for %s carries a user name, password or query, which rotatord never sends: remove them (e.g. https://contoso-kv.vault.azure.net/)", e.path, quote(u.Host))
		return "", false
	case err != nil:
		// url's error quotes the string, which may hold a password.
		p.errorf(e.val.Line, "%s: not a URL (e.g. https://contoso-kv.vault.azure.net/)", e.path)
		return "", false
	case u.Scheme != "https" || u.Host == "" || u.Fragment != "":
		p.errorf(e.val.Line, "%s: %s is not an https URL (e.g. https://contoso-kv.vault.azure.net/)", e.path, quote(s))
		return "", false
	}
	return s, true
}

func (p *parser) checkListen(e entry, s string) bool {
	_, port, err := net.SplitHostPort(s)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n > 65535 {
		p.errorf(e.val.Line, "%s: %s is not host:port (e.g. 127.0.0.1:9464 or :9464)", e.path, quote(s))
		return false
	}
	return true
}

// names lists a map's keys sorted, for "declared: ..." hints.
func names(m map[string]string) string {
	if len(m) == 0 {
		return "none declared"
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
