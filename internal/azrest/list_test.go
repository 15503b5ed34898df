package azrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rotatord/rotatord/internal/testutil"
)

// readPage reads the test listing's pages: {"value":[…],"next":"…"}.
func readPage(body []byte) ([]string, Link, error) {
	var p struct {
		Value []string `json:"value"`
		Next  string   `json:"next"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, Link{}, err
	}
	if p.Value == nil {
		return nil, Link{}, errors.New(`no "value"`)
	}
	return p.Value, Link{URL: p.Next, Field: "next"}, nil
}

func listing() Listing[string] {
	return Listing[string]{Op: "List", Path: []string{"items"}, Read: readPage}
}

func pageStep(next string, values ...string) step {
	b, _ := json.Marshal(map[string]any{"value": values, "next": next})
	return step{status: 200, body: string(b)}
}

func TestList(t *testing.T) {
	const api = "https://{{host}}/v1"
	h := newHarness(t, []step{
		pageStep(api+"/items?p=2", "a", "b"),
		pageStep(api+"/items/more?p=3#frag", "c"),
		pageStep("", "d"),
	}, nil)
	got, err := List(context.Background(), h.client, listing())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	var urls []string
	for _, r := range h.fake.requests() {
		urls = append(urls, r.path+"?"+r.query)
	}
	if want := []string{"/v1/items?", "/v1/items?p=2", "/v1/items/more?p=3"}; !reflect.DeepEqual(urls, want) {
		t.Errorf("requested %q, want %q", urls, want)
	}
}

func TestListRefuses(t *testing.T) {
	const api = "https://{{host}}/v1"
	tests := map[string]struct {
		steps    []step
		wantHint string
		wantReqs int
		wantPage bool // ErrPaging, not a decode failure
	}{
		"another host": {[]step{pageStep("https://evil.example/v1/items?p=2", "a")},
			"Svc's next-page link (next) points to another host than svc.api_url, and rotatord sends its token to no other — check svc.api_url and any proxy in between", 1, true},
		"http": {[]step{pageStep("http://{{host}}/v1/items?p=2", "a")},
			"Svc's next-page link (next) is not an absolute https URL, and rotatord sends its token over https only — check svc.api_url and any proxy in between", 1, true},
		"outside the path": {[]step{pageStep("https://{{host}}/v2/items?p=2", "a")},
			"Svc's next-page link (next) points outside svc.api_url's path, where rotatord sends no token — check svc.api_url and any proxy in between", 1, true},
		"a loop": {[]step{pageStep(api+"/items?p=2", "a"), pageStep("HTTPS://{{host}}/v1/items?p=2#x", "b")},
			"Svc's next-page link (next) points back to a page of this listing already read, so it would never end — try again later", 2, true},
		"back to the first": {[]step{pageStep(api+"/items", "a")},
			"Svc's next-page link (next) points back to a page of this listing already read, so it would never end — try again later", 1, true},
		"a page without value": {[]step{pageStep(api+"/items?p=2", "a"), {status: 200, body: `{}`}},
			"unexpected response — is svc.api_url the Svc API?", 2, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.steps, nil)
			got, err := List(context.Background(), h.client, listing())
			te := asTestError(t, err)
			if got != nil || te.f.Hint != tc.wantHint || errors.Is(err, ErrPaging) != tc.wantPage || Retryable(te.f.StatusCode, te.f.Err, false) {
				t.Errorf("got %q, %v (hint %q)", got, err, te.f.Hint)
			}
			if strings.Contains(err.Error(), "evil") || strings.Contains(err.Error(), "p=2") {
				t.Errorf("error %q quotes the link", err)
			}
			if n := len(h.fake.requests()); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
		})
	}
}

func TestListBounds(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		fmt.Fprintf(w, `{"value":["%d"],"next":"https://%s/v1/items?p=%d"}`, i, r.Host, i)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{Service: Service{Name: "Svc", Package: "test", APIURLKey: "svc.api_url", Fail: testFail},
		APIURL: srv.URL + "/v1", Scope: testScope, Credential: &testutil.Credential{Scope: testScope}, Transport: srv.Client(), MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_, err = List(context.Background(), c, listing())
	if te := asTestError(t, err); !errors.Is(err, ErrPaging) || te.f.Hint != c.Hints().TooManyPages || n.Load() != MaxPages {
		t.Errorf("after %d pages: %v", n.Load(), err)
	}

	n.Store(0)
	l := listing()
	l.MaxBytes = 200
	_, err = List(context.Background(), c, l)
	if te := asTestError(t, err); !errors.Is(err, ErrPaging) || te.f.Hint != c.Hints().TooLarge || n.Load() > 10 {
		t.Errorf("after %d pages: %v", n.Load(), err)
	}
}

func TestCheckLink(t *testing.T) {
	c, err := New(Options{Service: Service{Package: "test", Fail: testFail}, APIURL: "https://api.example:8443/v1/", Credential: &testutil.Credential{Scope: testScope}, MaxBody: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]LinkProblem{
		"https://api.example:8443/v1/operations/x":      0,
		"HTTPS://API.example:8443/V1/operations/x#frag": 0,
		"https://api.example/v1/operations/x":           LinkOffHost,
		"https://evil@api.example:8443/v1/operations/x": LinkOffHost,
		"https://api.example:8443/v1":                   LinkOffPath,
		"https://api.example:8443/v1x/operations":       LinkOffPath,
		"https://api.example:8443/v1/../admin":          LinkOffPath,
		"https://api.example:8443/v1/%2e%2e/admin":      LinkOffPath,
		"http://api.example:8443/v1/operations/x":       LinkNotHTTPS,
		"/v1/operations/x":                              LinkNotHTTPS,
		"https://api.example:8443/v1/%zz":               LinkNotHTTPS,
	}
	for link, want := range tests {
		u, why, got := c.CheckLink(link)
		if got != want || (got == 0) != (u != nil) || (got == 0) != (why == "") {
			t.Errorf("CheckLink(%q) = %v, %q, %v; want problem %v", link, u, why, got, want)
		}
		if u != nil && u.Fragment != "" {
			t.Errorf("CheckLink(%q) kept the fragment", link)
		}
	}
}
