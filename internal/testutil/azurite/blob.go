package azurite

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// Client returns the real azblob client for the account, authenticating
// with cred's bearer tokens (scope https://storage.azure.com/.default, the
// SDK's default) and sending through client, which must trust the CA
// (emulator.CA.Client()).
func (a *Azurite) Client(tb testing.TB, cred azcore.TokenCredential, client *http.Client) *azblob.Client {
	tb.Helper()
	c, err := azblob.NewClient(a.URL(), cred, &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: client}})
	if err != nil {
		tb.Fatalf("azurite: blob client: %v", err)
	}
	return c
}

// CreateContainer creates container name with the azblob client, as cred,
// through client, failing tb if it cannot.
func (a *Azurite) CreateContainer(tb testing.TB, name string, cred azcore.TokenCredential, client *http.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Client(tb, cred, client).CreateContainer(ctx, name, nil); err != nil {
		tb.Fatalf("azurite: create container %s: %v", name, err)
	}
}
