package blobs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/testutil"
	"github.com/rotatord/rotatord/internal/wire"
)

// endless is a body that never ends, for the bound on what is read.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// serve runs h over TLS and returns its URL and a client that trusts it.
func serve(t *testing.T, h http.HandlerFunc) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

func TestErrorSaysWhatToFix(t *testing.T) {
	tests := map[string]struct {
		status int
		code   string
		want   string
	}{
		"missing container": {404, "ContainerNotFound", "state blob URL: read: the container does not exist: create it"},
		"refused role":      {403, "AuthorizationPermissionMismatch", "read: AuthorizationPermissionMismatch: rotatord's identity needs the role Storage Blob Data Contributor on the container"},
		"another answer":    {409, "LeaseAlreadyPresent", "read: HTTP 409 LeaseAlreadyPresent"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url, hc := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("x-ms-error-code", tc.code)
				w.WriteHeader(tc.status)
			})
			err := download(t, url, hc, 1<<20)
			got := Error("state blob", "URL", "read", err)
			if got == nil || !strings.Contains(got.Error(), tc.want) {
				t.Errorf("Error = %v, want it to contain %q", got, tc.want)
			}
		})
	}
	if Error("state blob", "URL", "read", nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}

// A blob or an error document longer than its bound fails the read, and
// does not fill memory.
func TestBodiesAreBounded(t *testing.T) {
	for name, status := range map[string]int{"blob": 200, "error": 500} {
		t.Run(name, func(t *testing.T) {
			url, hc := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second) // ends by itself
				defer cancel()
				buf := make([]byte, 32<<10)
				for ctx.Err() == nil {
					n, _ := endless{}.Read(buf)
					if _, err := w.Write(buf[:n]); err != nil {
						return
					}
				}
			})
			err := download(t, url, hc, 1<<20)
			var tl *wire.TooLargeError
			if !errors.As(err, &tl) {
				t.Errorf("download = %v, want a *wire.TooLargeError", err)
			}
		})
	}
}

// download reads the blob at base/c/b through NewClient, as the state blob
// does.
func download(t *testing.T, base string, hc *http.Client, maxBody int64) error {
	t.Helper()
	c, err := NewClient("state blob", base+"/c/b", &testutil.Credential{Scope: "https://storage.azure.com/.default"}, hc, maxBody)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := c.DownloadStream(ctx, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
