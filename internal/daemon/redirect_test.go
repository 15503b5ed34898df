package daemon

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/rotatord/rotatord/internal/wire"
)

// TestClientsRefuseRedirectsAway: the default client and a client the
// daemon is given (the demo's) both refuse a redirect to another port, so
// every Azure and Power BI client of the daemon does.
func TestClientsRefuseRedirectsAway(t *testing.T) {
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	d, _ := newDemoDaemon(t, Options{})
	for name, tr := range map[string]policy.Transporter{"default": wire.NewClient(1), "given": d.o.Transport} {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if re := new(wire.RedirectError); !errors.As(err, &re) {
			t.Errorf("%s client: error %v, want a *wire.RedirectError", name, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the other server received %d requests", n)
	}
}
