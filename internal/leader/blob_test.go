package leader

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/rotatord/rotatord/internal/testutil"
	"github.com/rotatord/rotatord/internal/testutil/azurite"
)

// blobEnv is one test's Azurite, reached as rotatord reaches Azure Storage:
// a bearer token of the emulated Entra ID, over HTTPS.
type blobEnv struct {
	az   *azurite.Azurite
	http *http.Client // trusts the stack's CA
	cred azcore.TokenCredential
}

const leaseContainer = "rotatord"

func newBlobEnv(t *testing.T) *blobEnv {
	t.Helper()
	ae := azurite.NewEnv(t, leaseContainer)
	return &blobEnv{az: ae.Az, http: ae.HTTP, cred: ae.Cred}
}

func (e *blobEnv) url(container, name string) string {
	return e.az.URL() + "/" + container + "/" + name
}

func (e *blobEnv) lock(t *testing.T, url, identity string) *BlobLock {
	t.Helper()
	l, err := NewBlobLock(url, e.cred, BlobOptions{Transport: e.http, Identity: identity, Duration: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// props reads the lease blob's properties with a client of its own, as an
// operator's tool would.
func (e *blobEnv) props(t *testing.T, name string) (blob.GetPropertiesResponse, error) {
	t.Helper()
	c := e.az.Client(t, e.cred, e.http).ServiceClient().NewContainerClient(leaseContainer).NewBlobClient(name)
	return c.GetProperties(timeout(t), nil)
}

func timeout(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func holderOf(p blob.GetPropertiesResponse) string {
	for k, v := range p.Metadata {
		if strings.EqualFold(k, holderKey) && v != nil {
			return *v
		}
	}
	return ""
}

// TestBlobLock: the lock's whole life on the real service: the first
// Acquire creates the blob, a second holder is refused and told who holds
// it, a release hands it over, and the old holder's renewal is then lost.
// No lease is left to expire: every hand-over is a release.
func TestBlobLock(t *testing.T) {
	e := newBlobEnv(t)
	c := timeout(t)
	url := e.url(leaseContainer, "leader")
	a, b := e.lock(t, url, "rotatord-a"), e.lock(t, url, "rotatord-b")

	if _, err := e.props(t, "leader"); !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Fatalf("before the first Acquire: %v, want BlobNotFound", err)
	}
	if err := a.Acquire(c); err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	p, err := e.props(t, "leader")
	if err != nil {
		t.Fatalf("the first Acquire created no blob: %v", err)
	}
	if *p.ContentLength != 0 || *p.LeaseState != lease.StateTypeLeased || *p.LeaseDuration != lease.DurationTypeFixed {
		t.Errorf("lease blob: %d bytes, lease %s %s; want empty, leased, fixed", *p.ContentLength, *p.LeaseState, *p.LeaseDuration)
	}
	if got := holderOf(p); got != "rotatord-a" {
		t.Errorf("holder metadata %q, want rotatord-a", got)
	}

	err = b.Acquire(c)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "rotatord-a" {
		t.Fatalf("second lock's Acquire: %v, want a *HeldError naming rotatord-a", err)
	}
	if err := b.Renew(c); !errors.Is(err, ErrLost) {
		t.Errorf("Renew by the one not holding it: %v, want ErrLost", err)
	}
	if err := a.Renew(c); err != nil {
		t.Fatalf("holder's Renew: %v", err)
	}
	if err := a.Release(c); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if p, err := e.props(t, "leader"); err != nil || *p.LeaseState != lease.StateTypeAvailable {
		t.Errorf("after Release: %v, lease state %v; want available", err, p.LeaseState)
	}

	if err := b.Acquire(c); err != nil {
		t.Fatalf("second lock's Acquire after the release: %v", err)
	}
	if p, err := e.props(t, "leader"); err != nil || holderOf(p) != "rotatord-b" {
		t.Errorf("after the hand-over: %v, holder %q; want rotatord-b", err, holderOf(p))
	}
	err = a.Renew(c)
	if !errors.Is(err, ErrLost) {
		t.Fatalf("old holder's Renew: %v, want ErrLost", err)
	}
	t.Logf("old holder's Renew: %v", err)
	if err := a.Release(c); err != nil {
		t.Errorf("old holder's Release: %v, want nil (nothing to give up)", err)
	}
	if err := b.Renew(c); err != nil {
		t.Errorf("new holder's Renew after the old one's Release: %v", err)
	}
}

// TestBlobLockMissingContainer: a container nobody created is reported as
// such, with the fix, not as a bare 404.
func TestBlobLockMissingContainer(t *testing.T) {
	e := newBlobEnv(t)
	l := e.lock(t, e.url("nosuchcontainer", "leader"), "rotatord-a")
	err := l.Acquire(timeout(t))
	if err == nil || !strings.Contains(err.Error(), "the container does not exist") {
		t.Fatalf("Acquire: %v, want an error saying the container does not exist", err)
	}
	t.Logf("Acquire: %v", err)
	var held *HeldError
	if errors.As(err, &held) {
		t.Errorf("Acquire: %v is a *HeldError", err)
	}
}

// elected is one Elector running against Azurite, and what it reported.
type elected struct {
	id     string
	cancel context.CancelFunc
	done   chan error // Run's result

	mu      sync.Mutex
	changes []change
}

type change struct {
	leading bool
	at      time.Time
}

func (e *elected) history() []change {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]change(nil), e.changes...)
}

func (e *elected) leading() bool {
	h := e.history()
	return len(h) > 0 && h[len(h)-1].leading
}

func campaign(t *testing.T, env *blobEnv, url, id string, logs *testutil.SyncBuffer) *elected {
	t.Helper()
	c := &elected{id: id, done: make(chan error, 1)}
	el := New(Options{
		Lock:     env.lock(t, url, id),
		Duration: 15 * time.Second,
		Identity: id,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		OnChange: func(leading bool) {
			c.mu.Lock()
			c.changes = append(c.changes, change{leading, time.Now()})
			c.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		c.done <- el.Run(ctx, func(term *Term) { <-term.Context().Done() })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s: Run did not return within 30 s of its cancel", id)
		}
	})
	return c
}

// TestElectorsOnAzurite: two Electors on one lease blob. One leads, and
// keeps leading past the lease's 15 s by its renewals while the other
// follows; when the leader stops, it releases the lease and the other
// leads within a retry interval (1 s ±20%) and a request, not a lease.
func TestElectorsOnAzurite(t *testing.T) {
	e := newBlobEnv(t)
	url := e.url(leaseContainer, "leader")
	var logs testutil.SyncBuffer
	a := campaign(t, e, url, "rotatord-a", &logs)
	b := campaign(t, e, url, "rotatord-b", &logs)

	testutil.WaitFor(t, "a leader", 10*time.Second, func() bool { return a.leading() || b.leading() })
	leader, follower := a, b
	if b.leading() {
		leader, follower = b, a
	}
	elected := leader.history()[0].at

	// Past the lease's own 15 s: only renewals keep it, and the follower,
	// retrying every second, must never get it.
	const hold = 17 * time.Second
	for time.Since(elected) < hold {
		if a.leading() && b.leading() {
			t.Fatal("both lead at once")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h := leader.history(); len(h) != 1 {
		t.Fatalf("%s's leadership changed while it held the lease: %v", leader.id, h)
	}
	if h := follower.history(); len(h) != 0 {
		t.Fatalf("%s led while %s held the lease: %v", follower.id, leader.id, h)
	}
	if n := len(logs.Lines("following", "leader="+leader.id)); n != 1 {
		t.Errorf("%s logged following %s %d times, want once (the holder from the blob's metadata):\n%s", follower.id, leader.id, n, logs.String())
	}

	stopped := time.Now()
	leader.cancel()
	if err := <-leader.done; err != nil {
		t.Errorf("%s's Run: %v, want nil", leader.id, err)
	}
	leader.done <- nil // for the Cleanup
	testutil.WaitFor(t, follower.id+" leading", 10*time.Second, follower.leading)
	h := leader.history()
	if len(h) != 2 || h[1].leading {
		t.Fatalf("%s's changes after its stop: %v, want true then false", leader.id, h)
	}
	released, took := h[1].at, follower.history()[0].at
	if took.Before(released) {
		t.Errorf("%s led at %s, before %s stepped down at %s", follower.id, took, leader.id, released)
	}
	t.Logf("%s led %s after %s's Run was cancelled, %s after it stepped down", follower.id,
		took.Sub(stopped).Round(time.Millisecond), leader.id, took.Sub(released).Round(time.Millisecond))
	// RetryEvery(15s) is 1 s, at most 1.2 s with the jitter, then a request.
	if took.Sub(released) > 2*time.Second {
		t.Errorf("%s took %s to lead after the release, want about 1.2 s at most", follower.id, took.Sub(released))
	}
}
