package rotate

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/fabric"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/secret"
)

// Options wires a Rotator to the services it uses.
type Options struct {
	PowerBI PowerBI
	// Fabric serves the inventory's connection_id entries; nil when it has
	// none.
	Fabric Fabric
	// Self returns the object id of the identity rotatord runs as, which a
	// connection's role assignments never lose; nil or failing: no role
	// assignment is removed.
	Self    func(ctx context.Context) (string, error)
	Pool    *cipher.Pool
	Sources *Sources
	// Pushed returns the source version the caller last recorded as set in
	// Power BI for a data source, for skip_unchanged; nil knows none. The
	// caller records each rotation's outcome from its Result and error:
	// Rotate records nothing.
	Pushed func(datasource string) (version string, ok bool)
	// Verified returns the source version the caller last recorded as
	// pushed and verified for a data source: what a rollback restores;
	// nil knows none.
	Verified func(datasource string) (version string, ok bool)
	Logger   *slog.Logger
	Clock    clock.Clock   // stage timings and the expiry check; nil: clock.Real()
	KeyTTL   time.Duration // how long a gateway key is trusted; default 24h
}

// Rotator rotates data sources; it is safe for concurrent use by many
// data sources at once.
type Rotator struct {
	o    Options
	keys *keyCache[*rsa.PublicKey] // Power BI gateways'
	srcs atomic.Pointer[Sources]
	fab  fabricKeys

	mu    sync.Mutex
	drift map[string]int      // users differing from the inventory, per data source
	conns map[string]connKind // by data source name: its Fabric connection, as last read
}

// New returns a Rotator.
func New(o Options) *Rotator {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.KeyTTL <= 0 {
		o.KeyTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Rotator{o: o, drift: make(map[string]int), conns: make(map[string]connKind)}
	if o.PowerBI != nil {
		r.keys = newKeyCache(gatewayKey(o.PowerBI), o.Clock, o.KeyTTL)
	}
	if o.Fabric != nil {
		r.fab = newFabricKeys(o.Fabric, o.Clock, o.KeyTTL)
	}
	r.srcs.Store(o.Sources)
	return r
}

// SetSources replaces where secrets come from, for a reloaded inventory.
func (r *Rotator) SetSources(s *Sources) { r.srcs.Store(s) }

// Sources returns what the Rotator reads secrets from now.
func (r *Rotator) Sources() *Sources { return r.srcs.Load() }

// Result is what one rotation did, failed or not: Rotate returns it with
// its error too, because a rotation that failed after the PATCH still left
// the new credential in Power BI. Rotate records none of it; the caller
// does (the daemon: state, metrics, the log line).
type Result struct {
	Started       time.Time // when Rotate began
	Patched       bool      // false when skip_unchanged found the same version, or before the PATCH landed
	PatchedAt     time.Time // when the PATCH landed, if Patched
	SourceVersion string    // Key Vault version(s) fetched, and pushed if Patched
	ExpiresAt     time.Time // when that credential stops working, if known
	UsersAdded    int
	UsersRemoved  int
	Stages        []StageTime // each stage run, in order; patch twice after a gateway key change

	// Check is the verify stage's last check, when ds.Verify (zero At
	// otherwise); VerifiedVersion the source version it verified, if it
	// connected.
	Check           Check
	VerifiedVersion string
	// Rollback is the result of a rollback (Rollback* constants), "" when
	// none was tried; RollbackVersion the version it went back to, and
	// RollbackErr, scrubbed, why it failed. After one, SourceVersion,
	// ExpiresAt and PatchedAt say what Power BI holds.
	Rollback        string
	RollbackVersion string
	RollbackErr     error
}

// Rotate performs one rotation of ds. An error at the users stage comes
// after the PATCH: the new credential is stored in Power BI all the same,
// and the Result's Patched says so. The error's text holds none of the
// rotation's secret values, whatever a service echoed (see scrubbed).
func (r *Rotator) Rotate(ctx context.Context, ds config.Datasource) (Result, error) {
	res := Result{Started: r.o.Clock.Now()}
	cred, err := r.prepare(ctx, ds)
	r.observe(&res, StageSource, res.Started)
	res.SourceVersion, res.ExpiresAt = cred.version, cred.expiresAt
	// Every call from here on builds its errors against these values: the
	// plain ones too, which a gateway that decrypted them may echo.
	ctx = secret.WithValues(ctx, cred.values...)
	if err == nil {
		err = r.deliver(ctx, ds, cred, &res)
	}
	return res, scrubbed(ctx, ds.Name, err)
}

// deliver is what follows the source stage: PATCH, unless skip_unchanged
// skips it, the check that the credential connects, when ds.Verify, then
// the users. A credential that does not connect stops the rotation before
// the users: their access is to a data source that is failing.
func (r *Rotator) deliver(ctx context.Context, ds config.Datasource, cred prepared, res *Result) error {
	if r.unchanged(ds, cred.version) {
		r.o.Logger.Debug("source version unchanged, patch skipped", "datasource", ds.Name, "source_version", cred.version)
	} else {
		if err := r.push(ctx, ds, cred, res); err != nil {
			return err
		}
		res.Patched, res.PatchedAt = true, r.o.Clock.Now()
	}
	if ds.Verify {
		if err := r.verify(ctx, ds, cred, res); err != nil {
			return err
		}
	}

	t := r.o.Clock.Now()
	added, removed, err := r.reconcileUsers(ctx, ds)
	r.observe(res, StageUsers, t)
	res.UsersAdded, res.UsersRemoved = added, removed
	if err != nil {
		return fail(ds.Name, StageUsers, err)
	}
	return nil
}

// unchanged reports whether skip_unchanged allows skipping the PATCH.
func (r *Rotator) unchanged(ds config.Datasource, version string) bool {
	if !ds.SkipUnchanged || version == "" {
		return false
	}
	if r.o.Pushed == nil {
		return false
	}
	pushed, ok := r.o.Pushed(ds.Name)
	return ok && pushed == version
}

// prepared is a data source's credential, fetched and built.
type prepared struct {
	plain     secret.Secret   // the credentials JSON, as gateways decrypt it
	typed     secret.Secret   // Fabric entries: the typed credentials, as cloud connections take them
	values    []secret.Secret // what no error may show: the secret fields fetched, and plain
	version   string          // Key Vault version(s) behind it
	expiresAt time.Time       // its earliest known expiry
}

// prepare is the source stage, shared by Rotate and Plan so that a plan
// fails where a rotation would: fetch every field, refuse a credential
// already expired, build the credentials JSON. version and expiresAt are
// set whenever the fields were fetched; values holds what was fetched even
// on failure.
func (r *Rotator) prepare(ctx context.Context, ds config.Datasource) (prepared, error) {
	return r.prepareAt(ctx, ds, nil)
}

// prepareAt is prepare with the Key Vault versions of pins (by field), for
// a rollback.
func (r *Rotator) prepareAt(ctx context.Context, ds config.Datasource, pins map[string]string) (prepared, error) {
	src, err := r.srcs.Load().resolve(ctx, ds, pins)
	p := prepared{values: src.secrets()}
	if err != nil {
		return p, fail(ds.Name, StageSource, err)
	}
	p.version, p.expiresAt = src.version, src.expiresAt
	if !src.expiresAt.IsZero() && !src.expiresAt.After(r.o.Clock.Now()) {
		return p, &Error{Datasource: ds.Name, Stage: StageSource, Reason: "expired",
			Err: errors.New("the credential's expiry is already past: refresh the secret in its source")}
	}
	if p.plain, err = credentials.Build(ds.CredentialType, src.fields); err != nil {
		return p, fail(ds.Name, StageSource, errors.Join(errBuild, err))
	}
	p.values = append(p.values, p.plain)
	if ds.Fabric() {
		// Which of the two a connection takes, only the connection says.
		if p.typed, err = credentials.Typed(ds.CredentialType, src.fields); err != nil {
			return p, fail(ds.Name, StageSource, errors.Join(errBuild, err))
		}
		p.values = append(p.values, p.typed)
	}
	return p, nil
}

// push delivers the credential to the service that holds ds.
func (r *Rotator) push(ctx context.Context, ds config.Datasource, cred prepared, res *Result) error {
	if ds.Fabric() {
		return r.pushConnection(ctx, ds, cred, res)
	}
	return r.pushDatasource(ctx, ds, cred.plain, res)
}

// pushDatasource PATCHes the credential into Power BI, encrypted for the
// gateway unless encrypt: none.
func (r *Rotator) pushDatasource(ctx context.Context, ds config.Datasource, plain secret.Secret, res *Result) error {
	details := pbi.CredentialDetails{
		CredentialType:      string(ds.CredentialType),
		EncryptedConnection: ds.EncryptedConnection,
		EncryptionAlgorithm: pbi.EncryptionNone,
		PrivacyLevel:        ds.PrivacyLevel,
	}
	switch ds.CredentialType {
	case credentials.Basic, credentials.Windows, credentials.Key:
		f := false
		details.UseEndUserOAuth2Credentials = &f
	}
	if ds.Encrypt != config.EncryptGateway {
		details.Credentials = plain
		return r.patch(ctx, ds, details, res)
	}

	details.EncryptionAlgorithm = pbi.EncryptionRSAOAEP
	return sealAndSend(ctx, r, ds, res, sealing[*rsa.PublicKey]{
		gatewayID: ds.GatewayID,
		keys:      r.keys,
		same:      sameKey,
		seal: func(ctx context.Context, pub *rsa.PublicKey) (err error) {
			details.Credentials, err = r.encrypt(ctx, pub, plain)
			return err
		},
		send:    func(ctx context.Context) error { return r.patch(ctx, ds, details, res) },
		changed: "gateway key changed, encrypting again",
	})
}

// sealing is how one credential is encrypted for a gateway and sent: with
// one key (a gateway's) or several (a cluster's members').
type sealing[K any] struct {
	gatewayID string
	keys      *keyCache[K]
	same      func(a, b K) bool                    // whether two readings of the key(s) agree
	seal      func(ctx context.Context, k K) error // encrypts into the request
	send      func(ctx context.Context) error      // the PATCH, failing as an *Error
	changed   string                               // the warning when a rejection found new key(s)
}

// sealAndSend encrypts with the cached key(s) and sends. A send the service
// rejects with 400 is made once more, encrypted anew, if the key(s) read
// again changed: a reinstalled gateway gets a new key, a cluster new members,
// and what was encrypted for the old ones cannot be decrypted.
func sealAndSend[K any](ctx context.Context, r *Rotator, ds config.Datasource, res *Result, s sealing[K]) error {
	t := r.o.Clock.Now()
	k, err := s.keys.get(ctx, s.gatewayID)
	if err == nil {
		err = s.seal(ctx, k)
	}
	r.observe(res, StageEncrypt, t)
	if err != nil {
		return fail(ds.Name, StageEncrypt, err)
	}
	err = s.send(ctx)
	if !badRequest(err) {
		return err
	}
	fresh, kerr := s.keys.refresh(ctx, s.gatewayID)
	if kerr != nil || s.same(fresh, k) {
		return err
	}
	r.o.Logger.Warn(s.changed, "datasource", ds.Name, "gateway_id", s.gatewayID)
	if kerr = s.seal(ctx, fresh); kerr != nil {
		return fail(ds.Name, StageEncrypt, kerr)
	}
	return s.send(ctx)
}

// badRequest reports whether err is a service's 400.
func badRequest(err error) bool {
	var (
		pe *pbi.Error
		fe *fabric.Error
	)
	return errors.As(err, &pe) && pe.StatusCode == http.StatusBadRequest ||
		errors.As(err, &fe) && fe.StatusCode == http.StatusBadRequest
}

func (r *Rotator) encrypt(ctx context.Context, pub *rsa.PublicKey, plain secret.Secret) (secret.Secret, error) {
	s, err := r.o.Pool.Encrypt(ctx, pub, plain)
	if err != nil {
		return secret.Secret{}, err
	}
	return secret.FromString(s), nil
}

// gatewayKey loads a Power BI gateway's public key.
func gatewayKey(c PowerBI) func(context.Context, string) (*rsa.PublicKey, error) {
	return func(ctx context.Context, gatewayID string) (*rsa.PublicKey, error) {
		gw, err := c.GetGateway(ctx, gatewayID)
		if err != nil {
			return nil, err
		}
		return publicKey(gatewayID, gw.PublicKey.Exponent, gw.PublicKey.Modulus)
	}
}

// publicKey decodes a gateway's (or a member's) key as the API spells it.
func publicKey(gatewayID, exponent, modulus string) (*rsa.PublicKey, error) {
	pub, err := cipher.PublicKeyFromBase64(exponent, modulus)
	if err != nil {
		return nil, fmt.Errorf("%w: gateway %s: %v", errBadKey, gatewayID, err)
	}
	return pub, nil
}

func (r *Rotator) patch(ctx context.Context, ds config.Datasource, d pbi.CredentialDetails, res *Result) error {
	t := r.o.Clock.Now()
	err := r.o.PowerBI.UpdateDatasource(ctx, ds.GatewayID, ds.DatasourceID, d)
	r.observe(res, StagePatch, t)
	if err != nil {
		return fail(ds.Name, StagePatch, err)
	}
	return nil
}

// observe adds how long stage took since start to res.
func (r *Rotator) observe(res *Result, stage Stage, start time.Time) {
	res.Stages = append(res.Stages, StageTime{Stage: stage, Duration: r.o.Clock.Now().Sub(start)})
}

// UsersDrift returns the number of users of a data source that differed from
// the inventory when last looked at.
func (r *Rotator) UsersDrift(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drift[name]
}

// Forget drops what the Rotator remembers of a data source that left the inventory.
func (r *Rotator) Forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.drift, name)
	delete(r.conns, name)
}
