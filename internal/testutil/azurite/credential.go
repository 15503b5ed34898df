package azurite

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/rotatord/rotatord/internal/emulator"
	"github.com/rotatord/rotatord/internal/sources"
)

// Credential returns rotatord's own credential for st's emulated Entra ID,
// built by rotatord's production path: auth.method client_secret, the
// secret read from a file (in a temporary directory of tb), against
// st.AuthorityURL. Its token requests go through client, which must trust
// st.CA (st.CA.Client()); the caller closes client's idle connections.
func Credential(tb testing.TB, st *emulator.Stack, client *http.Client) azcore.TokenCredential {
	tb.Helper()
	secretFile := filepath.Join(tb.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, st.ClientSecret.Reveal(), 0o600); err != nil {
		tb.Fatalf("azurite: %v", err)
	}
	cred, err := sources.NewCredential(sources.AuthOptions{
		Method:           sources.MethodClientSecret,
		TenantID:         st.TenantID,
		ClientID:         st.ClientID,
		ClientSecretFile: secretFile,
		AuthorityHost:    st.AuthorityURL,
		Transport:        client,
	})
	if err != nil {
		tb.Fatalf("azurite: credential: %v", err)
	}
	return cred
}

// Env is a test's emulated Entra ID, Azurite, and rotatord's credential
// for them, with one container made.
type Env struct {
	Az    *Azurite
	Stack *emulator.Stack
	HTTP  *http.Client // trusts Stack.CA; its idle connections close at cleanup
	Cred  azcore.TokenCredential
}

// NewEnv starts the emulators' stack and Azurite, and creates container
// with Cred. It skips tb under -short.
func NewEnv(tb testing.TB, container string) *Env {
	tb.Helper()
	if testing.Short() {
		tb.Skip("runs Azurite")
	}
	st, err := emulator.StartStack(emulator.StackOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	e := &Env{Az: Start(tb, Options{CA: st.CA}), Stack: st, HTTP: st.CA.Client()}
	tb.Cleanup(e.HTTP.CloseIdleConnections)
	e.Cred = Credential(tb, st, e.HTTP)
	e.Az.CreateContainer(tb, container, e.Cred, e.HTTP)
	return e
}
