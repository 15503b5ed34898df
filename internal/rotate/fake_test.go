package rotate

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/pbi"
	"github.com/rotatord/rotatord/internal/sources"
)

// The operations of fakePowerBI, for calls and faults.
const (
	opGetGateway = "GetGateway"
	opUpdate     = "UpdateDatasource"
	opGetUsers   = "GetDatasourceUsers"
	opAddUser    = "AddDatasourceUser"
	opDeleteUser = "DeleteDatasourceUser"
	opStatus     = "GetDatasourceStatus"
)

// fakePowerBI is an in-memory Power BI gateway API. Like a gateway, it
// decrypts what UpdateDatasource receives with its current key, and answers
// 400 when it cannot; it keeps the credential fields it was given, the data
// sources' users, and counts calls. Faults are errors to return, in order,
// per operation; block, when set, runs at the start of GetGateway, and
// onUpdate after a PATCH is stored.
type fakePowerBI struct {
	t *testing.T

	mu       sync.Mutex
	keys     map[string]*rsa.PrivateKey      // by gateway ID
	fields   map[string]map[string]string    // credential fields by data source ID
	users    map[string][]pbi.DatasourceUser // by data source ID
	accept   map[string]map[string]string    // what each data source's database accepts; none: anything
	calls    map[string]int
	faults   map[string][]error
	block    func(ctx context.Context) error
	onUpdate func()
}

var _ PowerBI = (*fakePowerBI)(nil)

func newFakePowerBI(t *testing.T) *fakePowerBI {
	return &fakePowerBI{t: t, keys: map[string]*rsa.PrivateKey{}, fields: map[string]map[string]string{},
		users: map[string][]pbi.DatasourceUser{}, accept: map[string]map[string]string{}, calls: map[string]int{}, faults: map[string][]error{}}
}

// addGateway gives gatewayID a new key of bits, as a reinstalled gateway gets.
func (f *fakePowerBI) addGateway(gatewayID string, bits int) {
	f.t.Helper()
	k, err := ciphertest.GenerateKey(bits)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[gatewayID] = k
}

// fail makes the next calls of op return errs, one each.
func (f *fakePowerBI) fail(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], errs...)
}

// enter counts a call of op and returns its fault, if one is queued.
func (f *fakePowerBI) enter(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if q := f.faults[op]; len(q) > 0 {
		f.faults[op] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakePowerBI) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// writes counts the calls that change something.
func (f *fakePowerBI) writes() int {
	return f.count(opUpdate) + f.count(opAddUser) + f.count(opDeleteUser)
}

func (f *fakePowerBI) credential(datasourceID string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fields[datasourceID]
}

func (f *fakePowerBI) setUsers(datasourceID string, users ...pbi.DatasourceUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[datasourceID] = users
}

// userList returns datasourceID's users as sorted email:access pairs.
func (f *fakePowerBI) userList(datasourceID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, u := range f.users[datasourceID] {
		out = append(out, u.EmailAddress+":"+u.DatasourceAccessRight)
	}
	slices.Sort(out)
	return out
}

func (f *fakePowerBI) GetGateway(ctx context.Context, gatewayID string) (pbi.Gateway, error) {
	if err := f.enter(opGetGateway); err != nil {
		return pbi.Gateway{}, err
	}
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		if err := block(ctx); err != nil {
			return pbi.Gateway{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[gatewayID]
	if !ok {
		return pbi.Gateway{}, &pbi.Error{Operation: opGetGateway, StatusCode: http.StatusNotFound}
	}
	b64 := base64.StdEncoding.EncodeToString
	return pbi.Gateway{ID: gatewayID, PublicKey: pbi.PublicKey{
		Exponent: b64(big.NewInt(int64(k.E)).Bytes()), Modulus: b64(k.N.Bytes())}}, nil
}

func (f *fakePowerBI) UpdateDatasource(_ context.Context, gatewayID, datasourceID string, d pbi.CredentialDetails) error {
	if err := f.enter(opUpdate); err != nil {
		return err
	}
	plain := []byte(d.Credentials.RevealString())
	if d.EncryptionAlgorithm == pbi.EncryptionRSAOAEP {
		f.mu.Lock()
		k := f.keys[gatewayID]
		f.mu.Unlock()
		var err error
		if k == nil {
			return &pbi.Error{Operation: opUpdate, StatusCode: http.StatusNotFound}
		}
		if plain, err = ciphertest.Decrypt(k, string(plain)); err != nil {
			return &pbi.Error{Operation: opUpdate, StatusCode: http.StatusBadRequest, Code: "DM_GWPipeline_Gateway_CredentialsDecryptionFailed"}
		}
	}
	var doc struct {
		CredentialData []struct{ Name, Value string } `json:"credentialData"`
	}
	if err := json.Unmarshal(plain, &doc); err != nil && !strings.Contains(string(plain), `"credentialData":""`) {
		f.t.Errorf("UpdateDatasource: credentials are no credentials JSON: %v", err)
	}
	fields := map[string]string{}
	for _, c := range doc.CredentialData {
		fields[c.Name] = c.Value
	}
	f.mu.Lock()
	f.fields[datasourceID] = fields
	onUpdate := f.onUpdate
	f.mu.Unlock()
	if onUpdate != nil {
		onUpdate()
	}
	return nil
}

func (f *fakePowerBI) GetDatasourceUsers(_ context.Context, _, datasourceID string) ([]pbi.DatasourceUser, error) {
	if err := f.enter(opGetUsers); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.users[datasourceID]), nil
}

func (f *fakePowerBI) AddDatasourceUser(_ context.Context, _, datasourceID string, u pbi.DatasourceUser) error {
	if err := f.enter(opAddUser); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	us := slices.DeleteFunc(f.users[datasourceID], func(have pbi.DatasourceUser) bool { return have.Key() == u.Key() })
	f.users[datasourceID] = append(us, u)
	return nil
}

func (f *fakePowerBI) DeleteDatasourceUser(_ context.Context, _, datasourceID, emailOrID string) error {
	if err := f.enter(opDeleteUser); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[datasourceID] = slices.DeleteFunc(f.users[datasourceID], func(u pbi.DatasourceUser) bool { return u.ID() == emailOrID })
	return nil
}

// setBackend makes datasourceID's database accept only fields; nil: any.
func (f *fakePowerBI) setBackend(datasourceID string, fields map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fields == nil {
		delete(f.accept, datasourceID)
		return
	}
	f.accept[datasourceID] = fields
}

// GetDatasourceStatus answers as the gateway does: a login refused by SQL
// Server when the database accepts other fields than the ones pushed.
func (f *fakePowerBI) GetDatasourceStatus(_ context.Context, _, datasourceID string) error {
	if err := f.enter(opStatus); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	have, ok := f.fields[datasourceID]
	if !ok {
		return &pbi.Error{Operation: "Gateways_GetDatasourceStatus", StatusCode: http.StatusBadRequest, Code: "DM_GWPipeline_Gateway_InvalidConnectionCredentials"}
	}
	if want, ok := f.accept[datasourceID]; ok && !maps.Equal(want, have) {
		return refused()
	}
	return nil
}

// refused is the status call's answer to a login SQL Server refused.
func refused() *pbi.Error {
	return &pbi.Error{Operation: "Gateways_GetDatasourceStatus", StatusCode: http.StatusBadRequest,
		Code: "DM_GWPipeline_Gateway_DataSourceAccessError", NativeCode: "18456"}
}

// fakeVault is an in-memory Key Vault: every version of each secret, the
// last set the latest.
type fakeVault struct {
	mu      sync.Mutex
	secrets map[string]sources.Value
	older   map[string][]sources.Value // by name, each version set before the latest
}

var _ KeyVault = (*fakeVault)(nil)

func (v *fakeVault) URL() string { return "https://fake.vault.azure.net" }

func (v *fakeVault) set(name string, val sources.Value) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if old, ok := v.secrets[name]; ok {
		if v.older == nil {
			v.older = make(map[string][]sources.Value)
		}
		v.older[name] = append(v.older[name], old)
	}
	v.secrets[name] = val
}

func (v *fakeVault) Get(_ context.Context, name, version string) (sources.Value, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	val, ok := v.secrets[name]
	if version != "" && ok && val.Version != version {
		i := slices.IndexFunc(v.older[name], func(o sources.Value) bool { return o.Version == version })
		if ok = i >= 0; ok {
			val = v.older[name][i]
		}
	}
	if !ok {
		return sources.Value{}, &sources.Error{Source: sources.SourceKeyVault, Resource: name, Reason: sources.ReasonNotFound}
	}
	return val, nil
}
