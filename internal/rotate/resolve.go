package rotate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/secret"
	"github.com/rotatord/rotatord/internal/sources"
)

// Sources is where credential fields are fetched from.
type Sources struct {
	KeyVaults  map[string]KeyVault    // by inventory name
	Credential azcore.TokenCredential // rotatord's identity, for oauth_scope tokens
	LookupEnv  func(string) (string, bool)
}

// resolved is a data source's credential fields, fetched.
type resolved struct {
	fields    credentials.Fields
	version   string    // Key Vault version(s) behind the fields, joined
	expiresAt time.Time // earliest known expiry of any field
}

// secrets returns the fields fetched that are secret: all but the
// literals (a user name, a tenant or client ID, a key pair's identifier),
// which the service may name in an error to good purpose ("login failed
// for user ...").
func (r resolved) secrets() []secret.Secret {
	var out []secret.Secret
	for name, v := range r.fields {
		if !credentials.IsLiteral(name) {
			out = append(out, v)
		}
	}
	return out
}

// resolve fetches every credential field of ds: the Key Vault version pins
// names for a field (a rollback's), else the one the inventory pins or the
// latest.
func (s *Sources) resolve(ctx context.Context, ds config.Datasource, pins map[string]string) (resolved, error) {
	var r resolved
	r.fields = make(credentials.Fields)
	if ds.Source.OAuthScope != "" {
		v, err := sources.Token(ctx, s.Credential, ds.Source.OAuthScope)
		if err != nil {
			return r, err
		}
		r.fields[credentials.FieldAccessToken] = v.Secret
		r.expiresAt = v.ExpiresAt
		return r, nil
	}
	for _, field := range ds.CredentialType.Fields() {
		ref, ok := ds.Source.Fields.Get(field)
		switch {
		case !ok && ds.CredentialType.Optional(field):
			continue // a key pair's passphrase, for a key in clear
		case !ok:
			return r, fmt.Errorf("%w: no source for field %q", errBuild, field)
		}
		v, err := s.fetch(ctx, ds, field, ref, pins)
		if err != nil {
			return r, err
		}
		r.fields[field] = v.Secret
		if v.Version != "" {
			if r.version != "" {
				r.version += versionSep
			}
			r.version += v.Version
		}
		exp := v.ExpiresAt
		if field == credentials.FieldAccessToken {
			// A token's own exp claim beats the Key Vault attribute.
			if jwtExp, ok := sources.JWTExpiry(v.Secret); ok {
				exp = jwtExp
			}
		}
		if !exp.IsZero() && (r.expiresAt.IsZero() || exp.Before(r.expiresAt)) {
			r.expiresAt = exp
		}
	}
	return r, nil
}

func (s *Sources) fetch(ctx context.Context, ds config.Datasource, field string, ref config.Ref, pins map[string]string) (sources.Value, error) {
	switch ref.Kind {
	case config.RefLiteral:
		return sources.Value{Secret: secret.FromString(ref.Name)}, nil
	case config.RefKeyVault:
		kv, ok := s.KeyVaults[ds.Source.KeyVault]
		if !ok {
			return sources.Value{}, fmt.Errorf("key vault %q is not declared", ds.Source.KeyVault)
		}
		// version: pins the one secret field the shorthand keys name,
		// never a user name or a key pair's passphrase.
		version := ds.PinnedVersion(field)
		if pin, ok := pins[field]; ok {
			version = pin
		}
		return kv.Get(ctx, ref.Name, version)
	case config.RefFile:
		return sources.ReadFile(ctx, ref.Name)
	case config.RefEnv:
		return sources.FromEnv(s.LookupEnv, ref.Name)
	}
	return sources.Value{}, fmt.Errorf("unknown source kind %d", ref.Kind)
}

// versionSep joins the Key Vault versions of a credential's fields into the
// one version string that results and the state file record.
const versionSep = ","

// splitVersions undoes resolve's join: the version of each Key Vault field
// of ds, by field, from a version string resolve made. ok is false when the
// string does not fit ds's Key Vault fields (the inventory changed since),
// so the version cannot be fetched again.
func splitVersions(ds config.Datasource, joined string) (pins map[string]string, ok bool) {
	versions := strings.Split(joined, versionSep)
	pins = make(map[string]string)
	for _, field := range ds.CredentialType.Fields() {
		ref, ok := ds.Source.Fields.Get(field)
		if !ok || ref.Kind != config.RefKeyVault {
			continue
		}
		if len(pins) == len(versions) || versions[len(pins)] == "" {
			return nil, false
		}
		pins[field] = versions[len(pins)]
	}
	return pins, len(pins) == len(versions)
}
