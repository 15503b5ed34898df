package fabric

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
	"github.com/rotatord/rotatord/internal/testutil"
)

// page is one page of a Fabric listing: values (a JSON array's items) and
// its continuationToken and continuationUri, "" for none.
func page(values, token, uri string) step {
	body := `{"value":[` + values + `]`
	if token != "" {
		body += `,"continuationToken":` + jsonString(token)
	}
	if uri != "" {
		body += `,"continuationUri":` + jsonString(uri)
	}
	return ok(body + "}")
}

func connection(id string) string {
	return `{"id":"` + id + `","connectivityType":"ShareableCloud","connectionDetails":{"type":"Web","path":"https://www.contoso.com"}}`
}

// TestPaging: a listing follows continuationToken, sent back on the first
// page's URL as continuationUri would send it, or a continuationUri on the
// API, and returns the pages' values in order.
func TestPaging(t *testing.T) {
	const api = "https://{{host}}/v1"
	want := []Connection{
		{ID: "a", ConnectivityType: "ShareableCloud", ConnectionDetails: ConnectionDetails{Type: "Web", Path: "https://www.contoso.com"}},
		{ID: "b", ConnectivityType: "ShareableCloud", ConnectionDetails: ConnectionDetails{Type: "Web", Path: "https://www.contoso.com"}},
		{ID: "c", ConnectivityType: "ShareableCloud", ConnectionDetails: ConnectionDetails{Type: "Web", Path: "https://www.contoso.com"}},
	}
	tests := map[string]struct {
		steps     []step
		wantQuery []string
	}{
		// The spec's example: the token is URL-encoded already, as in its
		// continuationUri (which points at the real Fabric, not this one).
		"the spec's token": {
			steps: []step{
				page(connection("a"), "LDEsMTAwMDAwLDA%3D", "https://api.fabric.microsoft.com/v1/connections?continuationToken=LDEsMTAwMDAwLDA%3D"),
				page(connection("b"), "LDIsMTAwMDAwLDA%3D", "https://api.fabric.microsoft.com/v1/connections?continuationToken=LDIsMTAwMDAwLDA%3D"),
				page(connection("c"), "", ""),
			},
			wantQuery: []string{"", "continuationToken=LDEsMTAwMDAwLDA%3D", "continuationToken=LDIsMTAwMDAwLDA%3D"},
		},
		"a token that is not encoded": {
			steps:     []step{page(connection("a"), "a+b/c=&d", ""), page(connection("b"), "x y", ""), page(connection("c"), "", "")},
			wantQuery: []string{"", "continuationToken=a%2Bb%2Fc%3D%26d", "continuationToken=x%20y"},
		},
		"continuationUri alone, on the API": {
			steps: []step{
				page(connection("a"), "", api+"/connections?continuationToken=p2"),
				page(connection("b"), "", api+"/connections?continuationToken=p3#frag"),
				page(connection("c"), "", ""),
			},
			wantQuery: []string{"", "continuationToken=p2", "continuationToken=p3"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, nil)
			got, err := h.client.ListConnections(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			var queries []string
			for _, r := range h.fake.requests() {
				if r.method != http.MethodGet || r.path != "/v1/connections" || r.auth != "Bearer token-1" {
					t.Errorf("request %+v", r)
				}
				queries = append(queries, r.query)
			}
			if !reflect.DeepEqual(queries, tc.wantQuery) {
				t.Errorf("queries %q, want %q", queries, tc.wantQuery)
			}
			if got := h.hook.Codes(opListConnections); !reflect.DeepEqual(got, []int{200, 200, 200}) {
				t.Errorf("OnResponse saw %v", got)
			}
		})
	}
}

// TestPagingRoleAssignments: the role assignments page like the
// connections, under their connection's path.
func TestPagingRoleAssignments(t *testing.T) {
	ra := func(id string) string {
		return `{"id":"` + id + `","principal":{"id":"` + id + `","type":"User"},"role":"User"}`
	}
	h := newHarness(t, []step{page(ra("a"), "LDEsMTAwMDAwLDA%3D", ""), page(ra("b"), "", "")}, nil)
	got, err := h.client.ListConnectionRoleAssignments(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Errorf("got %+v", got)
	}
	if r := h.fake.requests()[1]; r.path != "/v1/connections/"+conn+"/roleAssignments" || r.query != "continuationToken=LDEsMTAwMDAwLDA%3D" {
		t.Errorf("page 2 asked as %s?%s", r.path, r.query)
	}
}

// TestPagingRetries: a later page is one call like the first.
func TestPagingRetries(t *testing.T) {
	h := newHarness(t, []step{page(connection("a"), "t2", ""), {status: 429, header: map[string]string{"Retry-After": "120"}},
		fabricError(401, "TokenExpired", "", nil), page(connection("b"), "", "")}, nil)
	got, err := h.client.ListConnections(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d, %v", len(got), err)
	}
	if got, want := h.hook.Codes(opListConnections), []int{200, 429, 401, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("OnResponse saw %v, want %v", got, want)
	}
	if h.sleptFor() != 2*time.Minute || h.cred.Calls() != 2 {
		t.Errorf("slept %s, %d tokens", h.sleptFor(), h.cred.Calls())
	}
}

// TestPagingRefused: a continuationUri that would take the token off the
// API, a token or link back to a page read, a page without value: the
// listing fails with nothing sent for the refused page.
func TestPagingRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	t.Cleanup(other.Close)
	const api = "https://{{host}}/v1"
	hint := func(p azrest.LinkProblem, field string) string { return hints().Link(p, "next-page link ("+field+")") }
	tests := map[string]struct {
		steps    []step
		wantHint string
		wantReqs int
		paging   bool // ErrPaging; else a decode failure
	}{
		"continuationUri on another host":  {[]step{page(connection("a"), "", "https://evil.example/v1/connections?continuationToken=p2")}, hint(azrest.LinkOffHost, "continuationUri"), 1, true},
		"continuationUri on another port":  {[]step{page(connection("a"), "", other.URL+"/v1/connections?continuationToken=p2")}, hint(azrest.LinkOffHost, "continuationUri"), 1, true},
		"continuationUri over http":        {[]step{page(connection("a"), "", "http://{{host}}/v1/connections?continuationToken=p2")}, hint(azrest.LinkNotHTTPS, "continuationUri"), 1, true},
		"continuationUri off the path":     {[]step{page(connection("a"), "", "https://{{host}}/admin/connections?continuationToken=p2")}, hint(azrest.LinkOffPath, "continuationUri"), 1, true},
		"continuationUri with a dot":       {[]step{page(connection("a"), "", api+"/../admin?continuationToken=p2")}, hint(azrest.LinkOffPath, "continuationUri"), 1, true},
		"continuationUri to the first":     {[]step{page(connection("a"), "", api+"/connections")}, hint(azrest.LinkLoop, "continuationUri"), 1, true},
		"a token that comes back":          {[]step{page(connection("a"), "t2", ""), page(connection("b"), "t2", "")}, hint(azrest.LinkLoop, "continuationToken"), 2, true},
		"a longer loop of tokens":          {[]step{page(connection("a"), "t2", ""), page(connection("b"), "t3", ""), page(connection("c"), "t2", "")}, hint(azrest.LinkLoop, "continuationToken"), 3, true},
		"a token, then its uri":            {[]step{page(connection("a"), "t2", ""), page(connection("b"), "", api+"/connections?continuationToken=t2")}, hint(azrest.LinkLoop, "continuationUri"), 2, true},
		"a page without value":             {[]step{page(connection("a"), "t2", ""), ok(`{"continuationToken":"t3"}`)}, "unexpected response — is fabric.api_url the Fabric API?", 2, false},
		"a page whose value is not a list": {[]step{ok(`{"value":{"id":"a"}}`)}, "unexpected response — is fabric.api_url the Fabric API?", 1, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.steps, nil)
			got, err := h.client.ListConnections(context.Background())
			fe := asError(t, err)
			if got != nil || errors.Is(err, ErrPaging) != tc.paging || fe.Retryable() || fe.Operation != opListConnections {
				t.Fatalf("got %v, %v (retryable %v)", got, err, fe.Retryable())
			}
			if fe.Hint != tc.wantHint {
				t.Errorf("hint %q\nwant %q", fe.Hint, tc.wantHint)
			}
			for _, leak := range []string{"evil", "p2", "admin", other.URL} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q quotes the link (%s)", err, leak)
				}
			}
			if n := len(h.fake.requests()); n != tc.wantReqs {
				t.Errorf("%d requests to the API, want %d", n, tc.wantReqs)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests to the other host", n)
	}
}

// TestTooManyPages: a server that never stops sending new tokens fails the
// listing at its 1000th page, and one of full pages past the listing's
// bytes before.
func TestTooManyPages(t *testing.T) {
	var n atomic.Int32
	filler := strings.Repeat("x", 1000)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := n.Add(1)
		fmt.Fprintf(w, `{"value":[{"id":"%d","displayName":"%s"}],"continuationToken":"t%d"}`, i, filler, i)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{APIURL: srv.URL + "/v1", Credential: &testutil.Credential{Scope: DefaultScope}, Transport: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListConnections(context.Background())
	fe := asError(t, err)
	if got != nil || !errors.Is(err, ErrPaging) || fe.Hint != hints().TooManyPages || fe.Retryable() || n.Load() != azrest.MaxPages {
		t.Fatalf("after %d pages: %d connections, %v", n.Load(), len(got), err)
	}

	n.Store(0)
	c.maxListing = 10_000 // ten pages
	_, err = c.ListGatewayMembers(context.Background(), gw)
	if fe := asError(t, err); !errors.Is(err, ErrPaging) || fe.Hint != hints().TooLarge || n.Load() != 10 {
		t.Errorf("after %d pages: %v", n.Load(), err)
	}
}

func TestQueryValue(t *testing.T) {
	for in, want := range map[string]string{
		"LDEsMTAwMDAwLDA%3D": "LDEsMTAwMDAwLDA%3D",
		"abc=":               "abc%3D",
		"a%zz":               "a%25zz",
		"a%3":                "a%253",
		"%":                  "%25",
		"ü":                  "%C3%BC",
		"-._~":               "-._~",
	} {
		if got := queryValue(in); got != want {
			t.Errorf("queryValue(%q) = %q, want %q", in, got, want)
		}
	}
}
