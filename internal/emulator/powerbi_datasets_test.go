package emulator

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const (
	pbiWS    = "f089354e-8366-4e18-aea3-4cb4a3a50b48"
	pbiSales = "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
	pbiEmpty = "0b6b4ed7-3c6e-4a57-9d8e-1f2a3b4c5d6e"
)

// datasetSource is the swagger Datasource as a client reads it.
type datasetSource struct {
	DatasourceType    string            `json:"datasourceType"`
	ConnectionDetails map[string]string `json:"connectionDetails"`
	GatewayID         string            `json:"gatewayId"`
	DatasourceID      string            `json:"datasourceId"`
}

// newDatasetFixture adds to the usual fixture a workspace holding a dataset
// bound to both data sources and reading a web page, and an empty one.
func newDatasetFixture(t *testing.T, o PowerBIOptions) *pbiFixture {
	t.Helper()
	f := newPBIFixture(t, o)
	must(t, f.pbi.SetDatasourceInfo(pbiGW, pbiDS, DatasourceInfo{Name: "Sales DW", Type: "Sql",
		ConnectionDetails: map[string]string{"server": "sql01.contoso.local", "database": "dw"}}))
	must(t, f.pbi.SetDatasourceInfo(cloudGW, cloudDS, DatasourceInfo{Type: "OData",
		ConnectionDetails: map[string]string{"url": "https://api.contoso.com/odata"}}))
	must(t, f.pbi.AddWorkspace(pbiWS))
	must(t, f.pbi.AddDataset(pbiWS, pbiSales, "Sales",
		DatasetSource{GatewayID: pbiGW, DatasourceID: strings.ToUpper(pbiDS)},
		DatasetSource{GatewayID: cloudGW, DatasourceID: cloudDS},
		DatasetSource{Type: "Web", ConnectionDetails: map[string]string{"url": "https://www.contoso.com/prices.html"}}))
	must(t, f.pbi.AddDataset(pbiWS, pbiEmpty, ""))
	return f
}

var (
	salesSQL   = datasetSource{"Sql", map[string]string{"server": "sql01.contoso.local", "database": "dw"}, pbiGW, pbiDS}
	salesOData = datasetSource{"OData", map[string]string{"url": "https://api.contoso.com/odata"}, cloudGW, cloudDS}
	salesWeb   = datasetSource{"Web", map[string]string{"url": "https://www.contoso.com/prices.html"}, "", ""}
)

func TestPowerBIDatasets(t *testing.T) {
	f := newDatasetFixture(t, PowerBIOptions{})
	status, _, body := f.do("GET", "/groups/"+pbiWS+"/datasets", "")
	if status != 200 {
		t.Fatalf("Get Datasets In Group: %d %s", status, body)
	}
	var datasets struct {
		Value []struct {
			ID, Name, ConfiguredBy  string
			IsRefreshable           bool
			IsOnPremGatewayRequired bool
		}
	}
	must(t, json.Unmarshal(body, &datasets))
	var got []string
	for _, d := range datasets.Value {
		got = append(got, d.ID+" "+d.Name)
		if d.ConfiguredBy == "" || !d.IsRefreshable {
			t.Errorf("dataset %s lacks configuredBy or isRefreshable: %s", d.ID, body)
		}
		if d.IsOnPremGatewayRequired != (d.ID == pbiSales) {
			t.Errorf("dataset %s: isOnPremGatewayRequired %v", d.ID, d.IsOnPremGatewayRequired)
		}
	}
	if want := []string{pbiEmpty + " emulated-dataset-0b6b4ed7", pbiSales + " Sales"}; !reflect.DeepEqual(got, want) {
		t.Errorf("datasets %q, want %q", got, want)
	}

	tests := map[string]struct {
		method, path string
		wantStatus   int
		wantCode     string
		want         []datasetSource
	}{
		"bound and unbound sources":  {"GET", "/groups/" + pbiWS + "/datasets/" + pbiSales + "/datasources", 200, "", []datasetSource{salesSQL, salesOData, salesWeb}},
		"ids in upper case":          {"GET", "/groups/" + strings.ToUpper(pbiWS) + "/datasets/" + strings.ToUpper(pbiSales) + "/datasources", 200, "", []datasetSource{salesSQL, salesOData, salesWeb}},
		"a dataset with no sources":  {"GET", "/groups/" + pbiWS + "/datasets/" + pbiEmpty + "/datasources", 200, "", []datasetSource{}},
		"unknown workspace":          {"GET", "/groups/" + pbiGW + "/datasets", 404, CodePowerBIEntityNotFound, nil},
		"sources, unknown workspace": {"GET", "/groups/" + pbiGW + "/datasets/" + pbiSales + "/datasources", 404, CodePowerBIEntityNotFound, nil},
		"unknown dataset":            {"GET", "/groups/" + pbiWS + "/datasets/" + pbiGW + "/datasources", 404, CodePowerBIEntityNotFound, nil},
		"dataset id not a UUID":      {"GET", "/groups/" + pbiWS + "/datasets/sales/datasources", 404, CodePowerBIEntityNotFound, nil},
		"group id not a UUID":        {"GET", "/groups/sales/datasets", 400, CodeInvalidRequest, nil},
		"method not allowed":         {"POST", "/groups/" + pbiWS + "/datasets", 405, "MethodNotAllowed", nil},
		"unknown dataset route":      {"GET", "/groups/" + pbiWS + "/datasets/" + pbiSales, 404, CodePowerBIEntityNotFound, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body, ok := f.read(t, tc.method, tc.path, tc.wantStatus, tc.wantCode)
			if !ok {
				return
			}
			checkDatasetSources(t, body, tc.want)
		})
	}

	// Removing a data source unbinds it; a denied gateway's stay listed.
	must(t, f.pbi.RemoveDatasource(cloudGW, cloudDS))
	f.pbi.DenyGateway(pbiGW)
	_, _, body = f.do("GET", "/groups/"+pbiWS+"/datasets/"+pbiSales+"/datasources", "")
	checkDatasetSources(t, body, []datasetSource{salesSQL, salesWeb})

	want := []RequestRecord{
		{"GET", "/v1.0/myorg/groups/" + pbiWS + "/datasets", OpGetDatasetsInGroup, 200},
		{"GET", "/v1.0/myorg/groups/" + pbiWS + "/datasets/" + pbiSales + "/datasources", OpGetDatasourcesInGroup, 200},
	}
	if rs := f.pbi.Requests(); !reflect.DeepEqual(rs[:1], want[:1]) || !reflect.DeepEqual(rs[len(rs)-1], want[1]) {
		t.Errorf("requests %+v\nwant first and last %+v", rs, want)
	}
}

// checkDatasetSources decodes a Get Datasources In Group answer and
// compares it with want; unbound sources must carry no ids at all.
func checkDatasetSources(t *testing.T, body []byte, want []datasetSource) {
	t.Helper()
	var list struct{ Value []datasetSource }
	must(t, json.Unmarshal(body, &list))
	if list.Value == nil || !reflect.DeepEqual(list.Value, want) {
		t.Errorf("sources %s\nwant %+v", body, want)
	}
	var raw struct{ Value []map[string]any }
	must(t, json.Unmarshal(body, &raw))
	for i, s := range raw.Value {
		if _, ok := s["connectionDetails"].(map[string]any); !ok {
			t.Errorf("source %d: connectionDetails is not an object: %s", i, body)
		}
		_, gw := s["gatewayId"]
		_, ds := s["datasourceId"]
		if bound := i < len(want) && want[i].GatewayID != ""; gw != bound || ds != bound {
			t.Errorf("source %d: gatewayId/datasourceId present %v/%v, bound %v", i, gw, ds, bound)
		}
	}
}

func TestPowerBIDatasetAdminErrors(t *testing.T) {
	p := NewPowerBI(PowerBIOptions{})
	must(t, p.AddGateway(pbiGW, 1024))
	must(t, p.AddDatasource(pbiGW, pbiDS, "Basic"))
	must(t, p.AddWorkspace(pbiWS))
	must(t, p.AddDataset(pbiWS, pbiSales, "Sales", DatasetSource{GatewayID: pbiGW, DatasourceID: pbiDS}))
	web := map[string]string{"url": "https://www.contoso.com"}
	tests := map[string]struct {
		err  error
		want string
	}{
		"workspace id":        {p.AddWorkspace("sales"), `emulator: workspace id "sales" is not a UUID`},
		"duplicate workspace": {p.AddWorkspace(strings.ToUpper(pbiWS)), "emulator: workspace " + strings.ToUpper(pbiWS) + " already exists"},
		"dataset id":          {p.AddDataset(pbiWS, "sales", "Sales"), `emulator: dataset id "sales" is not a UUID`},
		"unknown workspace":   {p.AddDataset(pbiGW, pbiEmpty, "x"), "emulator: no workspace " + pbiGW + " (AddWorkspace first)"},
		"duplicate dataset":   {p.AddDataset(pbiWS, pbiSales, "again"), "emulator: dataset " + pbiWS + "/" + pbiSales + " already exists"},
		"unknown data source": {p.AddDataset(pbiWS, pbiEmpty, "x", DatasetSource{GatewayID: pbiGW, DatasourceID: cloudDS}),
			"emulator: dataset " + pbiEmpty + ": source 0: no data source " + pbiGW + "/" + cloudDS},
		"half bound": {p.AddDataset(pbiWS, pbiEmpty, "x", DatasetSource{Type: "Web", ConnectionDetails: web}, DatasetSource{DatasourceID: pbiDS}),
			"emulator: dataset " + pbiEmpty + ": source 1 has a GatewayID or a DatasourceID but not both"},
		"bound with a type": {p.AddDataset(pbiWS, pbiEmpty, "x", DatasetSource{GatewayID: pbiGW, DatasourceID: pbiDS, Type: "Sql"}),
			"emulator: dataset " + pbiEmpty + ": source 0 is bound to a data source, whose info gives its Type and ConnectionDetails (SetDatasourceInfo)"},
		"unbound without a type": {p.AddDataset(pbiWS, pbiEmpty, "x", DatasetSource{ConnectionDetails: web}),
			"emulator: dataset " + pbiEmpty + ": source 0 is bound to no data source and has no Type"},
		"unbound with a detail not in the swagger": {p.AddDataset(pbiWS, pbiEmpty, "x", DatasetSource{Type: "Web", ConnectionDetails: map[string]string{"href": "h"}}),
			"emulator: dataset " + pbiEmpty + `: source 0: connection detail "href" is not one of server, database, url, path, kind, account, domain, emailAddress, loginServer, classInfo`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.err == nil || tc.err.Error() != tc.want {
				t.Errorf("got %v, want %s", tc.err, tc.want)
			}
		})
	}
	if p.workspaces[strings.ToLower(pbiWS)].datasets[pbiEmpty] != nil {
		t.Error("a refused AddDataset added the dataset")
	}
}

// TestPowerBIDatasetsThrottled: a 429 injected into Get Datasets In Group
// answers once with Retry-After and Power BI's throttling body, then the
// list is served; both are recorded.
func TestPowerBIDatasetsThrottled(t *testing.T) {
	f := newDatasetFixture(t, PowerBIOptions{})
	f.pbi.Faults().Inject(OpGetDatasetsInGroup, Fault{Status: 429, RetryAfter: "1", Times: 1})
	path := "/groups/" + pbiWS + "/datasets"
	status, hdr, body := f.do("GET", path, "")
	if status != 429 || hdr.Get("Retry-After") != "1" || !strings.Contains(string(body), `"message"`) || hdr.Get("RequestId") == "" {
		t.Errorf("throttled: %d %v %s", status, hdr, body)
	}
	status, _, body = f.do("GET", path, "")
	if status != 200 || !strings.Contains(string(body), pbiSales) {
		t.Errorf("after the fault: %d %s", status, body)
	}
	want := []RequestRecord{
		{"GET", "/v1.0/myorg" + path, OpGetDatasetsInGroup, 429},
		{"GET", "/v1.0/myorg" + path, OpGetDatasetsInGroup, 200},
	}
	if got := f.pbi.Requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests %+v\nwant     %+v", got, want)
	}
}

// TestPowerBIDatasetsAuthorization: the dataset operations are authorized
// like the gateway ones.
func TestPowerBIDatasetsAuthorization(t *testing.T) {
	f := newDatasetFixture(t, PowerBIOptions{Authorize: func(*http.Request) error { return ErrDenied }})
	for _, path := range []string{"/groups/" + pbiWS + "/datasets", "/groups/" + pbiWS + "/datasets/" + pbiSales + "/datasources"} {
		status, _, body := f.do("GET", path, "")
		if code, _ := pbiErr(t, body); status != 403 || code != CodeNotAuthorized {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}
