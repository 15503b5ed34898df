package azurite_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/internal/testutil/azurite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is one test's emulated Entra ID and Azurite, and rotatord's own
// credential for them.
type env struct {
	az   *azurite.Azurite
	http *http.Client // trusts the stack's CA
	cred azcore.TokenCredential
	// secret is the client secret behind cred, to prove it is printed nowhere.
	secret string
}

const container = "rotatord"

func setup(t *testing.T) *env {
	t.Helper()
	// rotatord's production path: auth.method client_secret, the secret
	// read from a file, against the emulated authority.
	ae := azurite.NewEnv(t, container)
	return &env{az: ae.Az, http: ae.HTTP, cred: ae.Cred, secret: ae.Stack.ClientSecret.RevealString()}
}

func (e *env) blob(t *testing.T, name string) *blockblob.Client {
	return e.az.Client(t, e.cred, e.http).ServiceClient().NewContainerClient(container).NewBlockBlobClient(name)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// status returns err's HTTP status and storage error code, or fails t if
// err is no service answer.
func status(t *testing.T, err error) (int, bloberror.Code) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a service error", err)
	}
	return re.StatusCode, bloberror.Code(re.ErrorCode)
}

// TestConditionalWrites: the state blob's two guards. If-None-Match: *
// creates it only once; If-Match on an ETag that is no longer current is
// refused.
func TestConditionalWrites(t *testing.T) {
	e := setup(t)
	c := ctx(t)
	b := e.blob(t, "state.json")
	create := &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: new(azcore.ETagAny)},
	}}
	first, err := b.Upload(c, body("v1"), create)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	_, err = b.Upload(c, body("v1 again"), create)
	if code, ec := status(t, err); code != http.StatusConflict || !bloberror.HasCode(err, bloberror.BlobAlreadyExists) {
		t.Errorf("second create: %d %s, want 409 BlobAlreadyExists", code, ec)
	}

	ifMatch := func(etag *azcore.ETag) *blockblob.UploadOptions {
		return &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: etag},
		}}
	}
	second, err := b.Upload(c, body("v2"), ifMatch(first.ETag))
	if err != nil {
		t.Fatalf("update on the current ETag: %v", err)
	}
	if *second.ETag == *first.ETag {
		t.Fatalf("the ETag did not change: %s", *first.ETag)
	}
	_, err = b.Upload(c, body("v3 from a stale reader"), ifMatch(first.ETag))
	if code, ec := status(t, err); code != http.StatusPreconditionFailed || !bloberror.HasCode(err, bloberror.ConditionNotMet) {
		t.Errorf("update on a stale ETag: %d %s, want 412 ConditionNotMet", code, ec)
	}
	if got := download(t, b); got != "v2" {
		t.Errorf("content %q, want v2", got)
	}
}

// TestLease: one holder at a time; renew and release by the holder; the
// next one acquires after a release.
func TestLease(t *testing.T) {
	e := setup(t)
	c := ctx(t)
	b := e.blob(t, "leader")
	if _, err := b.Upload(c, body(""), nil); err != nil {
		t.Fatal(err)
	}
	holder := func(id string) *lease.BlobClient {
		l, err := lease.NewBlobClient(b, &lease.BlobClientOptions{LeaseID: &id})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	one, two := holder("11111111-1111-4111-8111-111111111111"), holder("22222222-2222-4222-8222-222222222222")

	got, err := one.AcquireLease(c, 15, nil)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if *got.LeaseID != *one.LeaseID() {
		t.Errorf("lease ID %s, want ours %s", *got.LeaseID, *one.LeaseID())
	}
	_, err = two.AcquireLease(c, 15, nil)
	if code, ec := status(t, err); code != http.StatusConflict || !bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
		t.Errorf("second acquire: %d %s, want 409 LeaseAlreadyPresent", code, ec)
	}
	if _, err := one.RenewLease(c, nil); err != nil {
		t.Errorf("renew: %v", err)
	}
	_, err = two.RenewLease(c, nil)
	if code, ec := status(t, err); code != http.StatusConflict || !bloberror.HasCode(err, bloberror.LeaseIDMismatchWithLeaseOperation) {
		t.Errorf("renew by another: %d %s, want 409 LeaseIdMismatchWithLeaseOperation", code, ec)
	}
	if _, err := one.ReleaseLease(c, nil); err != nil {
		t.Errorf("release: %v", err)
	}
	if _, err := two.AcquireLease(c, 15, nil); err != nil {
		t.Errorf("acquire after release: %v", err)
	}
}

// TestLeaseDurations: Azure takes a lease of 15 to 60 s, or -1 for one
// without end, and refuses any other with 400 InvalidHeaderValue; Azurite
// enforces the same, so a wrong duration fails in these tests as it would
// in production.
func TestLeaseDurations(t *testing.T) {
	e := setup(t)
	c := ctx(t)
	for d, ok := range map[int32]bool{-2: false, -1: true, 0: false, 10: false, 14: false, 15: true, 60: true, 61: false, 70: false} {
		b := e.blob(t, fmt.Sprintf("lease%d", d))
		if _, err := b.Upload(c, body(""), nil); err != nil {
			t.Fatal(err)
		}
		l, err := lease.NewBlobClient(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.AcquireLease(c, d, nil)
		switch {
		case ok && err != nil:
			t.Errorf("%d s: %v, want it accepted", d, err)
		case !ok && err == nil:
			t.Errorf("%d s: accepted, want 400 InvalidHeaderValue", d)
		case !ok:
			if code, ec := status(t, err); code != http.StatusBadRequest || ec != bloberror.InvalidHeaderValue {
				t.Errorf("%d s: %d %s, want 400 InvalidHeaderValue", d, code, ec)
			}
		}
	}
}

// TestOAuthIsOn: without a token, or with a token for another audience,
// Azurite refuses; so the accepted requests above were checked.
func TestOAuthIsOn(t *testing.T) {
	e := setup(t)
	c := ctx(t)
	if _, err := e.blob(t, "private").Upload(c, body("x"), nil); err != nil {
		t.Fatal(err)
	}
	anon, err := azblob.NewClientWithNoCredential(e.az.URL(), &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.http}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = anon.ServiceClient().NewContainerClient(container).NewBlobClient("private").GetProperties(c, nil)
	if code, ec := status(t, err); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d %s, want 401 or 403", code, ec)
	} else {
		t.Logf("anonymous: %d %s", code, ec)
	}

	vault := e.az.Client(t, scoped{e.cred, "https://vault.azure.net/.default"}, e.http)
	_, err = vault.ServiceClient().NewContainerClient(container).NewBlobClient("private").GetProperties(c, nil)
	if code, ec := status(t, err); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("a Key Vault token: %d %s, want 401 or 403", code, ec)
	} else {
		t.Logf("a Key Vault token: %d %s", code, ec)
	}

	// What Azurite printed, shown when a test fails, holds neither the
	// tokens it was sent nor the client secret they came from.
	for _, scope := range []string{"https://storage.azure.com/.default", "https://vault.azure.net/.default"} {
		tok, err := e.cred.GetToken(c, policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.az.Output(), tok.Token) {
			t.Errorf("Azurite's output holds the token for %s", scope)
		}
	}
	if strings.Contains(e.az.Output(), e.secret) {
		t.Error("Azurite's output holds the client secret")
	}
}

// TestRestart: while Azurite is down a request fails at once with a
// refused connection; after Restart, on the same URL, the data is there.
func TestRestart(t *testing.T) {
	e := setup(t)
	c := ctx(t)
	b := e.blob(t, "survivor")
	if _, err := b.Upload(c, body("still here"), nil); err != nil {
		t.Fatal(err)
	}
	url := e.az.URL()
	e.az.Stop()
	e.az.Stop() // idempotent

	once, err := azblob.NewClient(url, e.cred, &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: e.http,
		Retry:     policy.RetryOptions{MaxRetries: -1}, // one try
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = once.ServiceClient().NewContainerClient(container).NewBlobClient("survivor").GetProperties(c, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while stopped: %v, want a refused connection", err)
	}

	e.az.Restart()
	if e.az.URL() != url {
		t.Fatalf("restarted on %s, want %s", e.az.URL(), url)
	}
	if got := download(t, b); got != "still here" {
		t.Errorf("after restart: %q, want %q", got, "still here")
	}
}

// TestRestartWaitsForItsPort: a port taken while Azurite was down (by
// another listener, or a connection's ephemeral port) delays Restart until
// it is free again instead of failing it, or moving Azurite elsewhere.
func TestRestartWaitsForItsPort(t *testing.T) {
	e := setup(t)
	addr := strings.TrimPrefix(strings.TrimSuffix(e.az.URL(), "/"+azurite.Account), "https://")
	e.az.Stop()
	squatter, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("take the port: %v", err)
	}
	// The squatter leaves once Azurite has been refused the port.
	released := make(chan struct{})
	go func() {
		defer close(released)
		defer squatter.Close()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(e.az.Output(), "EADDRINUSE") {
				return
			}
		}
	}()
	e.az.Restart()
	<-released
	if !strings.Contains(e.az.Output(), "EADDRINUSE") {
		t.Fatal("Azurite was never refused the port: the test proved nothing")
	}
	if _, err := e.blob(t, "after").Upload(ctx(t), body("x"), nil); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

// scoped is a credential that asks for scope whatever the client wants: a
// token for the wrong audience.
type scoped struct {
	cred  azcore.TokenCredential
	scope string
}

func (s scoped) GetToken(c context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	o.Scopes = []string{s.scope}
	return s.cred.GetToken(c, o)
}

func download(t *testing.T, b *blockblob.Client) string {
	t.Helper()
	resp, err := b.DownloadStream(ctx(t), nil)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func body(s string) io.ReadSeekCloser { return streaming.NopCloser(strings.NewReader(s)) }
