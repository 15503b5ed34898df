package pbi

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

	"github.com/rotatord/rotatord/internal/testutil"
)

const (
	group   = "f089354e-8366-4e18-aea3-4cb4a3a50b48"
	dataset = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
)

// TestListings decodes the answers of the swagger's examples.
func TestListings(t *testing.T) {
	tests := map[string]struct {
		reply    string
		call     func(c *Client) (any, error)
		wantPath string // escaped, under /v1.0/myorg
		want     any
	}{
		"GetGateways": {
			reply: `{"@odata.context":"https://api.powerbi.com/v1.0/myorg/$metadata#gateways","value":[
				{"id":"` + gw + `","name":"My_Sample_Gateway","type":"Resource","publicKey":{"exponent":"AQAB","modulus":"o6j2....cLk="}}]}`,
			call:     func(c *Client) (any, error) { return c.GetGateways(context.Background()) },
			wantPath: "/gateways",
			want:     []Gateway{{ID: gw, Name: "My_Sample_Gateway", Type: "Resource", PublicKey: PublicKey{Exponent: "AQAB", Modulus: "o6j2....cLk="}}},
		},
		"GetGateways, none": {
			reply:    `{"@odata.context":"https://api.powerbi.com/v1.0/myorg/$metadata#gateways","value":[]}`,
			call:     func(c *Client) (any, error) { return c.GetGateways(context.Background()) },
			wantPath: "/gateways",
			want:     []Gateway{},
		},
		"GetDatasources": {
			reply: `{"@odata.context":"https://api.powerbi.com/v1.0/myorg/$metadata#gatewayDatasources","value":[
				{"id":"252b9de8-d915-4788-aaeb-ec8c2395f970","gatewayId":"` + gw + `","datasourceType":"Sql","connectionDetails":"{\"server\":\"localSQL\",\"database\":\"salesDB\"}","credentialType":"Windows","datasourceName":"SQL Datasource"},
				{"id":"91f8aec2-4b32-476f-909b-3241999620ec","gatewayId":"` + gw + `","datasourceType":"AnalysisServices","connectionDetails":"{\"server\":\"localAS\",\"database\":\"marketingDB\"}","credentialType":"Windows","datasourceName":"AS Datasource",
				 "credentialDetails":{"useEndUserOAuth2Credentials":true}}]}`,
			call:     func(c *Client) (any, error) { return c.GetDatasources(context.Background(), gw) },
			wantPath: "/gateways/" + gw + "/datasources",
			want: []GatewayDatasource{
				{ID: "252b9de8-d915-4788-aaeb-ec8c2395f970", GatewayID: gw, DatasourceName: "SQL Datasource", DatasourceType: "Sql",
					ConnectionDetails: `{"server":"localSQL","database":"salesDB"}`, CredentialType: "Windows"},
				{ID: "91f8aec2-4b32-476f-909b-3241999620ec", GatewayID: gw, DatasourceName: "AS Datasource", DatasourceType: "AnalysisServices",
					ConnectionDetails: `{"server":"localAS","database":"marketingDB"}`, CredentialType: "Windows",
					CredentialDetails: &GatewayDatasourceCredentialDetails{UseEndUserOAuth2Credentials: true}},
			},
		},
		"GetDatasetsInGroup": {
			reply: `{"@odata.context":"https://api.powerbi.com/v1.0/myorg/groups/` + group + `/$metadata#datasets","value":[
				{"id":"` + dataset + `","name":"SalesMarketing","addRowsAPIEnabled":false,"configuredBy":"john@contoso.com","isRefreshable":true,
				 "isEffectiveIdentityRequired":false,"isEffectiveIdentityRolesRequired":false,"isOnPremGatewayRequired":false}]}`,
			call:     func(c *Client) (any, error) { return c.GetDatasetsInGroup(context.Background(), group) },
			wantPath: "/groups/" + group + "/datasets",
			want:     []Dataset{{ID: dataset, Name: "SalesMarketing", ConfiguredBy: "john@contoso.com"}},
		},
		"GetDatasourcesInGroup": {
			reply: `{"@odata.context":"https://api.powerbi.com/v1.0/myorg/groups/` + group + `/$metadata#datasources","value":[
				{"datasourceType":"Sql","connectionDetails":{"server":"My-As-Server","database":"My-As-Database"},"datasourceId":"33cc5222-3fb9-44f7-b19d-ffbff18aaaf5","gatewayId":"0a2dafe6-0e93-4120-8d2c-fae123c111b1"},
				{"datasourceType":"Extension","datasourceId":"70540d95-4c8e-41ae-88c6-27a103b12841","gatewayId":"7f1c4e55-544b-403f-b132-da0d3a024674","connectionDetails":{"kind":"AzureDataExplorer","path":"https://myserver.kusto.windows.net"}},
				{"datasourceType":"File","connectionDetails":{"path":"c:\\users\\username\\documents\\orders1.xlsx"}}]}`,
			call:     func(c *Client) (any, error) { return c.GetDatasourcesInGroup(context.Background(), group, dataset) },
			wantPath: "/groups/" + group + "/datasets/" + dataset + "/datasources",
			want: []Datasource{
				{DatasourceType: "Sql", ConnectionDetails: ConnectionDetails{Server: "My-As-Server", Database: "My-As-Database"},
					DatasourceID: "33cc5222-3fb9-44f7-b19d-ffbff18aaaf5", GatewayID: "0a2dafe6-0e93-4120-8d2c-fae123c111b1"},
				{DatasourceType: "Extension", ConnectionDetails: ConnectionDetails{Kind: "AzureDataExplorer", Path: "https://myserver.kusto.windows.net"},
					DatasourceID: "70540d95-4c8e-41ae-88c6-27a103b12841", GatewayID: "7f1c4e55-544b-403f-b132-da0d3a024674"},
				{DatasourceType: "File", ConnectionDetails: ConnectionDetails{Path: `c:\users\username\documents\orders1.xlsx`}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, []step{ok(tc.reply)}, nil)
			got, err := tc.call(h.client)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
			reqs := h.fake.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if r := reqs[0]; r.method != "GET" || r.path != "/v1.0/myorg"+tc.wantPath || r.query != "" || r.auth != "Bearer token-1" {
				t.Errorf("request %+v, want GET /v1.0/myorg%s", r, tc.wantPath)
			}
		})
	}
}

// page is one page of an OData list: values (a JSON array's items) and the
// link to the next page, "" for none.
func page(values, next string) step {
	body := `{"@odata.context":"https://api.powerbi.com/v1.0/myorg/$metadata#x","value":[` + values + `]`
	if next != "" {
		body += `,"@odata.nextLink":` + jsonString(next)
	}
	return ok(body + "}")
}

// TestPaging: every listing follows @odata.nextLink to the end, one call of
// do per page, and returns the pages' values in order.
func TestPaging(t *testing.T) {
	const api = "https://{{host}}/v1.0/myorg"
	user := func(email string) string {
		return `{"datasourceAccessRight":"Read","emailAddress":"` + email + `","principalType":"User"}`
	}
	tests := map[string]struct {
		op       string
		path     string // under /v1.0/myorg
		pages    [3]string
		call     func(c *Client) (any, error)
		want     any
		wantNext [2]string // the query of pages 2 and 3
	}{
		"GetGateways": {
			op: opGetGateways, path: "/gateways",
			pages: [3]string{`{"id":"a"},{"id":"b"}`, `{"id":"c"}`, `{"id":"d"}`},
			call:  func(c *Client) (any, error) { return c.GetGateways(context.Background()) },
			want:  []Gateway{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}},
		},
		"GetDatasources": {
			op: opGetDatasources, path: "/gateways/" + gw + "/datasources",
			pages: [3]string{`{"id":"a","gatewayId":"g","credentialType":"Basic"}`, ``, `{"id":"c","gatewayId":"g","credentialType":"Key"}`},
			call:  func(c *Client) (any, error) { return c.GetDatasources(context.Background(), gw) },
			want:  []GatewayDatasource{{ID: "a", GatewayID: "g", CredentialType: "Basic"}, {ID: "c", GatewayID: "g", CredentialType: "Key"}},
		},
		"GetDatasetsInGroup": {
			op: opGetDatasetsInGroup, path: "/groups/" + group + "/datasets",
			pages: [3]string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`},
			call:  func(c *Client) (any, error) { return c.GetDatasetsInGroup(context.Background(), group) },
			want:  []Dataset{{ID: "a"}, {ID: "b"}, {ID: "c"}},
		},
		"GetDatasourcesInGroup": {
			op: opGetDatasourcesInGroup, path: "/groups/" + group + "/datasets/" + dataset + "/datasources",
			pages: [3]string{`{"datasourceType":"Sql"}`, `{"datasourceType":"File"}`, `{"datasourceType":"OData"}`},
			call:  func(c *Client) (any, error) { return c.GetDatasourcesInGroup(context.Background(), group, dataset) },
			want:  []Datasource{{DatasourceType: "Sql"}, {DatasourceType: "File"}, {DatasourceType: "OData"}},
		},
		"GetDatasourceUsers": {
			op: opGetDatasourceUsers, path: "/gateways/" + gw + "/datasources/" + ds + "/users",
			pages: [3]string{user("a@contoso.com"), user("b@contoso.com"), user("c@contoso.com")},
			call:  func(c *Client) (any, error) { return c.GetDatasourceUsers(context.Background(), gw, ds) },
			want: []DatasourceUser{
				{DatasourceAccessRight: "Read", EmailAddress: "a@contoso.com", PrincipalType: "User"},
				{DatasourceAccessRight: "Read", EmailAddress: "b@contoso.com", PrincipalType: "User"},
				{DatasourceAccessRight: "Read", EmailAddress: "c@contoso.com", PrincipalType: "User"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, []step{
				page(tc.pages[0], api+tc.path+"?$skiptoken=p%2F2"),
				// Another link than the first page's path, as OData allows.
				page(tc.pages[1], api+tc.path+"/more?$skip=2&$top=1#ignored"),
				page(tc.pages[2], ""),
			}, nil)
			got, err := tc.call(h.client)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
			var urls []string
			for _, r := range h.fake.requests() {
				if r.method != "GET" || r.auth != "Bearer token-1" {
					t.Errorf("request %+v", r)
				}
				urls = append(urls, r.path+"?"+r.query)
			}
			base := "/v1.0/myorg" + tc.path
			if want := []string{base + "?", base + "?$skiptoken=p%2F2", base + "/more?$skip=2&$top=1"}; !reflect.DeepEqual(urls, want) {
				t.Errorf("requested %q\nwant %q", urls, want)
			}
			if got, want := h.hook.Get(), []string{tc.op + " 200", tc.op + " 200", tc.op + " 200"}; !reflect.DeepEqual(got, want) {
				t.Errorf("OnResponse saw %q, want %q", got, want)
			}
		})
	}
}

// TestPagingRetries: a later page is one call like the first, with the
// same retries, Retry-After waits and re-authorization.
func TestPagingRetries(t *testing.T) {
	next := page(`{"id":"a"}`, "https://{{host}}/v1.0/myorg/gateways?$skiptoken=2")
	last := page(`{"id":"b"}`, "")
	tests := map[string]struct {
		steps      []step
		wantHook   []string
		wantSlept  time.Duration
		wantTokens int32
	}{
		"429 with a Retry-After beyond azcore's cap, on page 2": {
			steps:      []step{next, {status: 429, header: map[string]string{"Retry-After": "120"}}, last},
			wantHook:   []string{"200", "429", "200"},
			wantSlept:  120 * time.Second,
			wantTokens: 1,
		},
		"429 with a short Retry-After, on page 2": {
			steps:      []step{next, {status: 429, header: map[string]string{"Retry-After": "0"}}, last},
			wantHook:   []string{"200", "429", "200"},
			wantTokens: 1,
		},
		"503 on page 2": {
			steps:      []step{next, {status: 503}, last},
			wantHook:   []string{"200", "503", "200"},
			wantTokens: 1,
		},
		"401 on page 2: a fresh token": {
			steps:      []step{next, pbiError(401, "TokenExpired", nil), last},
			wantHook:   []string{"200", "401", "200"},
			wantTokens: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.steps, nil)
			var slept time.Duration // the client's calls run in this goroutine
			h.client.sleep = func(_ context.Context, d time.Duration) error { slept += d; return nil }
			got, err := h.client.GetGateways(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := []Gateway{{ID: "a"}, {ID: "b"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			var hook []string
			for _, a := range h.hook.Get() {
				hook = append(hook, strings.TrimPrefix(a, opGetGateways+" "))
			}
			if !reflect.DeepEqual(hook, tc.wantHook) {
				t.Errorf("OnResponse saw %q, want %q", hook, tc.wantHook)
			}
			if slept != tc.wantSlept {
				t.Errorf("slept %s, want %s", slept, tc.wantSlept)
			}
			if n := h.cred.Calls(); n != tc.wantTokens {
				t.Errorf("%d tokens, want %d", n, tc.wantTokens)
			}
			if reqs := h.fake.requests(); reqs[len(reqs)-1].query != "$skiptoken=2" {
				t.Errorf("last request %+v, want page 2", reqs[len(reqs)-1])
			}
		})
	}
}

// TestPagingFailures: a listing that cannot be read to its end returns no
// values, only an *Error.
func TestPagingFailures(t *testing.T) {
	h := newHarness(t, []step{
		page(`{"id":"a"}`, "https://{{host}}/v1.0/myorg/gateways?$skiptoken=2"),
		pbiError(403, "PowerBINotAuthorizedException", nil),
	}, nil)
	got, err := h.client.GetGateways(context.Background())
	var pe *Error
	if got != nil || !errors.As(err, &pe) || pe.StatusCode != 403 {
		t.Errorf("got %v, %v; want no values and the 403", got, err)
	}

	h = newHarness(t, []step{page(`{"id":"a"}`, "https://{{host}}/v1.0/myorg/gateways?$skiptoken=2"), ok(`{"@odata.context":"x"}`)}, nil)
	got, err = h.client.GetGateways(context.Background())
	if got != nil || !errors.As(err, &pe) || pe.Hint != hintUnexpected || !strings.Contains(err.Error(), `no "value"`) || pe.Retryable() {
		t.Errorf("a page without value: got %v, %v", got, err)
	}
}

// TestNextLinkRefused: a next-page link that would take the token off the
// API URL, or that would never end the listing, fails it before anything is
// sent there; the error does not quote the link.
func TestNextLinkRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	t.Cleanup(other.Close)
	api := "https://{{host}}/v1.0/myorg"
	tests := map[string]struct {
		steps    []step
		wantHint string
		wantReqs int // to the API
	}{
		"another port":               {[]step{page(`{"id":"a"}`, other.URL+"/v1.0/myorg/gateways?p=2")}, hintPageOffHost, 1},
		"another host":               {[]step{page(`{"id":"a"}`, "https://evil.example/v1.0/myorg/gateways?p=2")}, hintPageOffHost, 1},
		"user info":                  {[]step{page(`{"id":"a"}`, "https://evil.example@{{host}}/v1.0/myorg/gateways?p=2")}, hintPageOffHost, 1},
		"http":                       {[]step{page(`{"id":"a"}`, "http://{{host}}/v1.0/myorg/gateways?p=2")}, hintPageNotHTTPS, 1},
		"relative":                   {[]step{page(`{"id":"a"}`, "/v1.0/myorg/gateways?p=2")}, hintPageNotHTTPS, 1},
		"not a URL":                  {[]step{page(`{"id":"a"}`, "https://{{host}}/v1.0/myorg/gateways?p=%zz\x7f")}, hintPageNotHTTPS, 1},
		"outside the path":           {[]step{page(`{"id":"a"}`, "https://{{host}}/v1.0/admin/gateways?p=2")}, hintPageOffPath, 1},
		"a sibling of the base path": {[]step{page(`{"id":"a"}`, "https://{{host}}/v1.0/myorgx/gateways?p=2")}, hintPageOffPath, 1},
		"the base path itself":       {[]step{page(`{"id":"a"}`, api+"?p=2")}, hintPageOffPath, 1},
		"a dot segment":              {[]step{page(`{"id":"a"}`, api+"/../admin/gateways?p=2")}, hintPageOffPath, 1},
		"an escaped dot segment":     {[]step{page(`{"id":"a"}`, api+"/%2e%2e/admin/gateways?p=2")}, hintPageOffPath, 1},
		"an escaped slash":           {[]step{page(`{"id":"a"}`, api+"%2F..%2Fadmin/gateways?p=2")}, hintPageOffPath, 1},
		"the default port":           {[]step{page(`{"id":"a"}`, "https://127.0.0.1/v1.0/myorg/gateways?p=2")}, hintPageOffHost, 1}, // httptest's port is not 443
		"back to the first page":     {[]step{page(`{"id":"a"}`, "HTTPS://{{host}}/v1.0/myorg/gateways#again")}, hintPageLoop, 1},
		"a page linking to itself":   {[]step{page(`{"id":"a"}`, api+"/gateways?p=2"), page(`{"id":"b"}`, api+"/gateways?p=2")}, hintPageLoop, 2},
		"a longer loop": {[]step{
			page(`{"id":"a"}`, api+"/gateways?p=2"),
			page(`{"id":"b"}`, api+"/gateways?p=3"),
			page(`{"id":"c"}`, "Https://{{host}}/v1.0/myorg/gateways?p=2"),
		}, hintPageLoop, 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.steps, nil)
			got, err := h.client.GetGateways(context.Background())
			var pe *Error
			if got != nil || !errors.As(err, &pe) || !errors.Is(err, ErrPaging) {
				t.Fatalf("got %v, %v; want an *Error for ErrPaging", got, err)
			}
			if pe.Hint != tc.wantHint || pe.Operation != opGetGateways || pe.StatusCode != 0 || pe.Retryable() {
				t.Errorf("got %#v (retryable %v), want hint %q, not retryable", pe, pe.Retryable(), tc.wantHint)
			}
			for _, leak := range []string{"evil", "p=2", "admin", other.URL} {
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

// TestTooManyPages: a server that never stops linking to a new page fails
// the listing at the 1000th page, which it does not ask beyond.
func TestTooManyPages(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		fmt.Fprintf(w, `{"value":[{"id":"%d"}],"@odata.nextLink":"https://%s/v1.0/myorg/gateways?$skiptoken=%d"}`, i, r.Host, i)
	}))
	t.Cleanup(srv.Close)
	var hook atomic.Int32
	c, err := New(Options{APIURL: srv.URL + "/v1.0/myorg", Credential: &testutil.Credential{Scope: DefaultScope}, Transport: srv.Client(),
		OnResponse: func(string, int) { hook.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetGateways(context.Background())
	var pe *Error
	if got != nil || !errors.As(err, &pe) || !errors.Is(err, ErrPaging) || pe.Hint != hintTooManyPages || pe.Retryable() {
		t.Fatalf("got %d gateways, %v; want a non-retryable *Error with hint %q", len(got), err, hintTooManyPages)
	}
	if !strings.Contains(err.Error(), "page 1000 still links to another") || !strings.Contains(pe.Hint, "1000 pages") {
		t.Errorf("error %q does not say it stopped at 1000 pages", err)
	}
	if got, h := n.Load(), hook.Load(); got != maxPages || h != maxPages {
		t.Errorf("%d requests, %d reported, want %d", got, h, maxPages)
	}
}

func TestListingHints(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(c *Client) error{
		opGetGateways:           func(c *Client) error { _, err := c.GetGateways(ctx); return err },
		opGetDatasources:        func(c *Client) error { _, err := c.GetDatasources(ctx, gw); return err },
		opGetDatasource:         func(c *Client) error { _, err := c.GetDatasource(ctx, gw, ds); return err },
		opGetDatasourceUsers:    func(c *Client) error { _, err := c.GetDatasourceUsers(ctx, gw, ds); return err },
		opGetDatasetsInGroup:    func(c *Client) error { _, err := c.GetDatasetsInGroup(ctx, group); return err },
		opGetDatasourcesInGroup: func(c *Client) error { _, err := c.GetDatasourcesInGroup(ctx, group, dataset); return err },
	}
	tests := []struct {
		op       string
		status   int
		wantHint string
	}{
		{opGetGateways, 403, hintForbidden},
		{opGetDatasources, 403, hintNotGatewayAdmin},
		{opGetDatasource, 403, hintNotGatewayAdmin},
		{opGetDatasourceUsers, 403, hintNotGatewayAdmin},
		{opGetDatasetsInGroup, 403, hintNotMember},
		{opGetDatasourcesInGroup, 403, hintNotMember},
		{opGetDatasources, 404, hintNoGateway},
		{opGetDatasetsInGroup, 404, hintNoWorkspace},
		{opGetDatasourcesInGroup, 404, hintNoDataset},
		{opGetDatasource, 404, hintNotFound},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d on %s", tc.status, tc.op), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, []step{pbiError(tc.status, "PowerBIEntityNotFound", map[string]string{"RequestId": "r-1"})}, nil)
			err := calls[tc.op](h.client)
			var pe *Error
			if !errors.As(err, &pe) || pe.StatusCode != tc.status || pe.Operation != tc.op || pe.RequestID != "r-1" || pe.Retryable() {
				t.Fatalf("got %#v", err)
			}
			if pe.Hint != tc.wantHint {
				t.Errorf("hint %q, want %q", pe.Hint, tc.wantHint)
			}
			if n := len(h.fake.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestListingTooLarge: pages that each fit the body limit but together
// pass the listing's are refused, so an endless listing of full pages
// cannot fill memory before the 1000th.
func TestListingTooLarge(t *testing.T) {
	var n atomic.Int32
	filler := strings.Repeat("x", 1000)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		fmt.Fprintf(w, `{"value":[{"id":"%d","name":"%s"}],"@odata.nextLink":"https://%s/v1.0/myorg/gateways?$skiptoken=%d"}`, i, filler, r.Host, i)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{APIURL: srv.URL + "/v1.0/myorg", Credential: &testutil.Credential{Scope: DefaultScope}, Transport: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	c.maxListing = 10_000 // ten pages
	got, err := c.GetGateways(context.Background())
	var pe *Error
	if got != nil || !errors.As(err, &pe) || !errors.Is(err, ErrPaging) || pe.Hint != hintTooLarge || pe.Retryable() {
		t.Fatalf("got %d gateways, %v; want a non-retryable *Error with hint %q", len(got), err, hintTooLarge)
	}
	if got := n.Load(); got != 10 {
		t.Errorf("%d pages read, want 10 (the tenth passes the bound)", got)
	}
}
