package state_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/rotatord/rotatord/internal/state"
	"github.com/rotatord/rotatord/internal/testutil"
	"github.com/rotatord/rotatord/internal/testutil/azurite"
)

const stateContainer = "rotatord"

// blobEnv is one test's Azurite, reached as rotatord reaches Azure Storage:
// a bearer token of the emulated Entra ID, over HTTPS.
type blobEnv struct {
	az   *azurite.Azurite
	http *http.Client // trusts the stack's CA
	cred azcore.TokenCredential
	url  string // of the state blob, state.json
}

func newBlobEnv(t *testing.T) *blobEnv {
	t.Helper()
	ae := azurite.NewEnv(t, stateContainer)
	return &blobEnv{az: ae.Az, http: ae.HTTP, cred: ae.Cred, url: ae.Az.URL() + "/" + stateContainer + "/state.json"}
}

// counting is a transport that counts the storage requests a Store sends
// (the credential's token requests go around it).
type counting struct {
	next *http.Client
	n    atomic.Int32
}

func (c *counting) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(r)
}

type storeOpts struct {
	logs     *testutil.SyncBuffer // nil: discard
	requests *counting            // nil: not counted
	readOnly bool
}

func (e *blobEnv) store(t *testing.T, url string, o storeOpts) *state.Store {
	t.Helper()
	bo := state.BlobOptions{Logger: slog.New(slog.DiscardHandler), Transport: e.http, ReadOnly: o.readOnly}
	if o.logs != nil {
		bo.Logger = slog.New(slog.NewTextHandler(o.logs, nil))
	}
	if o.requests != nil {
		o.requests.next = e.http
		bo.Transport = o.requests
	}
	s, err := state.OpenBlob(url, e.cred, bo)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loaded opens the state blob and Loads it.
func (e *blobEnv) loaded(t *testing.T, o storeOpts) *state.Store {
	t.Helper()
	s := e.store(t, e.url, o)
	if err := s.Load(timeout(t)); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func (e *blobEnv) blob(t *testing.T) *blockblob.Client {
	return e.az.Client(t, e.cred, e.http).ServiceClient().NewContainerClient(stateContainer).NewBlockBlobClient("state.json")
}

// content downloads the state blob and decodes it as a state file,
// failing t unless it is one.
func (e *blobEnv) content(t *testing.T) map[string]state.Datasource {
	t.Helper()
	resp, err := e.blob(t).DownloadStream(timeout(t), nil)
	if err != nil {
		t.Fatalf("download the state blob: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var f state.File
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("the state blob is not a state file: %v\n%s", err, data)
	}
	if f.Version != state.Version {
		t.Fatalf("the state blob's version %d, want %d", f.Version, state.Version)
	}
	return f.Datasources
}

func timeout(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func names(dss map[string]state.Datasource) string {
	var ns []string
	for n := range dss {
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return "(none)"
	}
	slices.Sort(ns)
	return strings.Join(ns, ",")
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	var ce *state.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: %v, want a *ConflictError", what, err)
	}
}

// TestBlobStoreTakeOver: the state blob as two rotatords share it across a
// take-over. The first write creates the blob and only once; a Store that
// read an older version is refused, its records never merged over the
// newer writer's, and stays refused, without asking the service, until it
// Loads again.
func TestBlobStoreTakeOver(t *testing.T) {
	e := newBlobEnv(t)
	at := time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)

	// One process reads the missing blob, then another creates it first.
	late := e.loaded(t, storeOpts{})
	first := e.loaded(t, storeOpts{})
	if got := first.Snapshot(); len(got) != 0 {
		t.Fatalf("Load of a missing blob: %v, want no records", got)
	}
	first.Update("sales", func(d *state.Datasource) { d.LastSuccess, d.SourceVersion = at, "v1" })
	if err := first.Save(); err != nil {
		t.Fatalf("first Save, creating the blob: %v", err)
	}
	if got := names(e.content(t)); got != "sales" {
		t.Fatalf("the blob holds %s, want sales", got)
	}
	late.Update("late", func(d *state.Datasource) { d.LastAttempt = at })
	wantConflict(t, "creating Save of a Store that read no blob, after another created it", late.Save())
	if got := names(e.content(t)); got != "sales" {
		t.Fatalf("after the refused create the blob holds %s, want sales", got)
	}

	second := e.loaded(t, storeOpts{})
	if d, ok := second.Get("sales"); !ok || !d.LastSuccess.Equal(at) || d.SourceVersion != "v1" {
		t.Fatalf("second Store's Load: sales %+v (%v), want the first's record", d, ok)
	}

	var requests counting
	// first as the deposed leader: the same records, counted from here on.
	first = e.store(t, e.url, storeOpts{requests: &requests})
	if err := first.Load(timeout(t)); err != nil {
		t.Fatal(err)
	}
	first.Update("by-first", func(d *state.Datasource) { d.LastAttempt = at })
	second.Update("by-second", func(d *state.Datasource) { d.LastAttempt = at })
	if err := second.Save(); err != nil {
		t.Fatalf("second Store's Save: %v", err)
	}
	sent := requests.n.Load()
	wantConflict(t, "first Store's Save after the second wrote", first.Save())
	if requests.n.Load() == sent {
		t.Fatal("the refused Save sent no request: the test proved nothing")
	}
	if got := names(e.content(t)); got != "by-second,sales" {
		t.Fatalf("after the refused Save the blob holds %s, want the second's by-second,sales", got)
	}

	// Stale now: refused again, without a request, until it Loads.
	sent = requests.n.Load()
	wantConflict(t, "first Store's next Save", first.Save())
	if n := requests.n.Load() - sent; n != 0 {
		t.Errorf("the stale Store's Save sent %d requests, want none", n)
	}
	if err := first.Load(timeout(t)); err != nil {
		t.Fatalf("Load after the conflict: %v", err)
	}
	if got := names(first.Snapshot()); got != "by-second,sales" {
		t.Errorf("after Load the first Store holds %s, want the blob's by-second,sales", got)
	}
	first.Update("by-first", func(d *state.Datasource) { d.LastAttempt = at })
	if err := first.Save(); err != nil {
		t.Fatalf("Save after Load: %v", err)
	}
	if got := names(e.content(t)); got != "by-first,by-second,sales" {
		t.Errorf("the blob holds %s, want by-first,by-second,sales", got)
	}
	// And now the second is the one that read an older version.
	wantConflict(t, "second Store's Save after the first wrote again", second.Save())

	third := e.loaded(t, storeOpts{})
	if got := names(third.Snapshot()); got != "by-first,by-second,sales" {
		t.Errorf("a third Store Loads %s, want by-first,by-second,sales", got)
	}
}

// TestBlobStoreCorrupt: a blob that is not a state file is logged, read as
// empty, and replaced by the next Save.
func TestBlobStoreCorrupt(t *testing.T) {
	e := newBlobEnv(t)
	if _, err := e.blob(t).Upload(timeout(t), streaming.NopCloser(strings.NewReader("not json")), nil); err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	s := e.loaded(t, storeOpts{logs: &logs})
	if got := s.Snapshot(); len(got) != 0 {
		t.Errorf("Load of a corrupt blob: %v, want no records", got)
	}
	if len(logs.Lines("level=WARN", "state blob is corrupt", e.url)) != 1 {
		t.Errorf("no warning naming the blob; the log:\n%s", logs.String())
	}
	s.Update("sales", func(d *state.Datasource) { d.LastError = "patch: 403 forbidden" })
	if err := s.Save(); err != nil {
		t.Fatalf("Save over the corrupt blob: %v", err)
	}
	dss := e.content(t)
	if d, ok := dss["sales"]; !ok || d.LastError != "patch: 403 forbidden" || len(dss) != 1 {
		t.Errorf("the blob after Save: %v, want the one record", dss)
	}
}

// TestBlobStoreReadOnly: a read-only Store Loads the blob but never writes
// it, nor asks to.
func TestBlobStoreReadOnly(t *testing.T) {
	e := newBlobEnv(t)
	w := e.loaded(t, storeOpts{})
	w.Update("sales", func(d *state.Datasource) { d.SourceVersion = "v1" })
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}

	var requests counting
	r := e.loaded(t, storeOpts{readOnly: true, requests: &requests})
	if d, ok := r.Get("sales"); !ok || d.SourceVersion != "v1" {
		t.Fatalf("read-only Load: sales %+v (%v), want the writer's record", d, ok)
	}
	r.Update("sales", func(d *state.Datasource) { d.SourceVersion = "v2" })
	sent := requests.n.Load()
	err := r.Save()
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only Save: %v, want it refused as read-only", err)
	}
	if n := requests.n.Load() - sent; n != 0 {
		t.Errorf("read-only Save sent %d requests, want none", n)
	}
	if d := e.content(t)["sales"]; d.SourceVersion != "v1" {
		t.Errorf("the blob's sales after the read-only Save: %+v, want v1", d)
	}
}

// TestBlobStoreMissingContainer: Load and Save name the missing container,
// and say to create it.
func TestBlobStoreMissingContainer(t *testing.T) {
	e := newBlobEnv(t)
	s := e.store(t, e.az.URL()+"/nosuchcontainer/state.json", storeOpts{})
	err := s.Load(timeout(t))
	if err == nil || !strings.Contains(err.Error(), "the container does not exist") {
		t.Fatalf("Load: %v, want an error saying the container does not exist", err)
	}
	s.Update("sales", func(d *state.Datasource) {})
	err = s.Save()
	if err == nil || !strings.Contains(err.Error(), "the container does not exist") {
		t.Errorf("Save: %v, want an error saying the container does not exist", err)
	}
	t.Logf("Save: %v", err)
}
