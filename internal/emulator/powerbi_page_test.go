package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// pageFixture is a dataset fixture with PageSize 2 and five or more of
// each listed thing: gateways, data sources on pbiGW, users of pbiDS,
// datasets in pbiWS, and sources of its dataset pbiMany.
func pageFixture(t *testing.T) *pbiFixture {
	t.Helper()
	f := newDatasetFixture(t, PowerBIOptions{PageSize: 2})
	var many []DatasetSource
	for i := range 4 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		must(t, f.pbi.AddGateway(id, 1024))
		must(t, f.pbi.AddDatasource(pbiGW, id, "Basic"))
		if id != pbiMany {
			must(t, f.pbi.AddDataset(pbiWS, id, fmt.Sprintf("dataset %d", i)))
		}
	}
	for i := range 5 {
		many = append(many, DatasetSource{Type: "Web", ConnectionDetails: map[string]string{"url": fmt.Sprintf("https://www.contoso.com/%d", i)}})
	}
	must(t, f.pbi.AddDataset(pbiWS, pbiMany, "many", many...))
	var users []User
	for i := range 5 {
		users = append(users, User{DatasourceAccessRight: "Read", EmailAddress: fmt.Sprintf("user%d@contoso.com", i), PrincipalType: "User"})
	}
	f.pbi.SetUsers(pbiGW, pbiDS, users)
	return f
}

const pbiMany = "00000000-0000-4000-8000-000000000003"

// page is one page of a list answer.
type page struct {
	Value    []map[string]any `json:"value"`
	NextLink string           `json:"@odata.nextLink"`
}

// follow reads a list from path, following @odata.nextLink, and returns
// every item's key field (or, with key "", the item's JSON) and the number
// of pages.
func (f *pbiFixture) follow(t *testing.T, path, key string) (items []string, pages int) {
	t.Helper()
	for path != "" {
		status, _, body := f.do("GET", path, "")
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var p page
		must(t, json.Unmarshal(body, &p))
		pages++
		if len(p.Value) > 2 || p.Value == nil {
			t.Errorf("page %d of %s holds %d items: %s", pages, path, len(p.Value), body)
		}
		for _, it := range p.Value {
			if key != "" {
				items = append(items, fmt.Sprint(it[key]))
				continue
			}
			b, _ := json.Marshal(it)
			items = append(items, string(b))
		}
		if p.NextLink == "" {
			break
		}
		rest, ok := strings.CutPrefix(p.NextLink, f.base)
		if !ok || !strings.HasPrefix(rest, strings.SplitN(path, "?", 2)[0]+"?$skiptoken=") {
			t.Fatalf("nextLink %q is not %s%s?$skiptoken=…", p.NextLink, f.base, path)
		}
		path = rest
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	return items, pages
}

func TestPowerBIPaging(t *testing.T) {
	f := pageFixture(t)
	ds := "/gateways/" + pbiGW + "/datasources/" + pbiDS
	tests := map[string]struct {
		path, key string
		op        string
		want      []string
	}{
		"Get Gateways": {"/gateways", "id", OpGetGateways, []string{
			"00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
			"00000000-0000-4000-8000-000000000003", pbiGW}},
		"Get Datasources": {"/gateways/" + pbiGW + "/datasources", "id", OpGetDatasources, []string{
			"00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
			"00000000-0000-4000-8000-000000000003", pbiDS}},
		"Get Datasource Users": {ds + "/users", "emailAddress", OpGetDatasourceUsers, []string{
			"user0@contoso.com", "user1@contoso.com", "user2@contoso.com", "user3@contoso.com", "user4@contoso.com"}},
		"Get Datasets In Group": {"/groups/" + pbiWS + "/datasets", "id", OpGetDatasetsInGroup, []string{
			"00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
			"00000000-0000-4000-8000-000000000003", pbiEmpty, pbiSales}},
		"Get Datasources In Group": {"/groups/" + pbiWS + "/datasets/" + pbiMany + "/datasources", "", OpGetDatasourcesInGroup, []string{
			`{"connectionDetails":{"url":"https://www.contoso.com/0"},"datasourceType":"Web"}`,
			`{"connectionDetails":{"url":"https://www.contoso.com/1"},"datasourceType":"Web"}`,
			`{"connectionDetails":{"url":"https://www.contoso.com/2"},"datasourceType":"Web"}`,
			`{"connectionDetails":{"url":"https://www.contoso.com/3"},"datasourceType":"Web"}`,
			`{"connectionDetails":{"url":"https://www.contoso.com/4"},"datasourceType":"Web"}`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := len(f.pbi.Requests())
			got, pages := f.follow(t, tc.path, tc.key)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("items %q\nwant  %q", got, tc.want)
			}
			if want := (len(tc.want) + 1) / 2; pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
			rs := f.pbi.Requests()[before:]
			if len(rs) != pages {
				t.Errorf("%d requests recorded for %d pages", len(rs), pages)
			}
			for _, r := range rs {
				if r.Operation != tc.op || r.Status != 200 || strings.Contains(r.Path, "?") {
					t.Errorf("recorded %+v", r)
				}
			}
		})
	}
}

func TestPowerBIPagingBadSkipToken(t *testing.T) {
	f := pageFixture(t)
	token := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	status, _, body := f.do("GET", "/gateways", "")
	var first page
	must(t, json.Unmarshal(body, &first))
	_, gwToken, _ := strings.Cut(first.NextLink, "$skiptoken=")
	if status != 200 || gwToken == "" {
		t.Fatalf("Get Gateways: %d %s", status, body)
	}
	datasources := "/gateways/" + pbiGW + "/datasources"
	tests := map[string]struct {
		path       string
		wantStatus int
	}{
		"the list's own token": {"/gateways?$skiptoken=" + gwToken, 200},
		"another list's token": {datasources + "?$skiptoken=" + gwToken, 400},
		"not base64":           {datasources + "?$skiptoken=%21%21", 400},
		"empty":                {datasources + "?$skiptoken=", 400},
		"no offset":            {datasources + "?$skiptoken=" + token(strings.ToLower("x /v1.0/myorg"+datasources)), 400},
		"offset zero":          {datasources + "?$skiptoken=" + token(strings.ToLower("0 /v1.0/myorg"+datasources)), 400},
		"offset past the end":  {datasources + "?$skiptoken=" + token(strings.ToLower("99 /v1.0/myorg"+datasources)), 200},
		"ids in another case":  {"/gateways/" + strings.ToUpper(pbiGW) + "/datasources?$skiptoken=" + token(strings.ToLower("2 /v1.0/myorg"+datasources)), 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, body := f.do("GET", tc.path, "")
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tc.wantStatus, body)
			}
			switch status {
			case 400:
				if code, msg := pbiErr(t, body); code != CodeInvalidRequest || msg != "$skiptoken: not a skip token of this list" {
					t.Errorf("got %s %q", code, msg)
				}
			case 200:
				var p page
				must(t, json.Unmarshal(body, &p))
				if p.Value == nil {
					t.Errorf("no value: %s", body)
				}
			}
		})
	}
	// Without PageSize, lists are whole and carry no nextLink.
	g := newDatasetFixture(t, PowerBIOptions{})
	_, _, body = g.do("GET", "/groups/"+pbiWS+"/datasets/"+pbiSales+"/datasources", "")
	var whole page
	must(t, json.Unmarshal(body, &whole))
	if len(whole.Value) != 3 || strings.Contains(string(body), "nextLink") {
		t.Errorf("unpaged list: %s", body)
	}
}
