package pbi

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/wire"
)

// TestTLSHostnameMismatchIsNotRetried: a certificate that is not for the
// API host fails the call at once, as a *wire.TLSError naming the host and
// the certificate's names, with its own hint; it was "unreachable" and
// retried until the tick's budget ran out.
func TestTLSHostnameMismatchIsNotRetried(t *testing.T) {
	h := newHarness(t, []step{ok(`{}`)}, func(o *Options) {
		// httptest's certificate is for 127.0.0.1, ::1 and example.com.
		o.APIURL = strings.Replace(o.APIURL, "127.0.0.1", "localhost", 1)
	})
	_, err := h.client.GetGateway(context.Background(), gw)
	var pe *Error
	var te *wire.TLSError
	if !errors.As(err, &pe) || !errors.As(err, &te) {
		t.Fatalf("error %v, want a *pbi.Error around a *wire.TLSError", err)
	}
	if pe.Retryable() || pe.Hint != hintTLS {
		t.Errorf("retryable %v, hint %q; want not retryable, hint %q", pe.Retryable(), pe.Hint, hintTLS)
	}
	for _, want := range []string{"localhost", "example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if got := h.hook.Get(); len(got) != 1 {
		t.Errorf("attempts %q, want one", got)
	}
}
