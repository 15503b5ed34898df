package emulator

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// DatasetSource is a data source a dataset uses. A bound one names a data
// source added before (AddDatasource or AddCloudDatasource) by GatewayID
// and DatasourceID, and Get Datasources In Group reports its type and
// connection details from that data source's DatasourceInfo: Type and
// ConnectionDetails must be empty then. An unbound one, which no gateway
// serves (as a dataset refreshed from a public web page), has empty ids and
// its own Type and ConnectionDetails, whose keys are those of
// DatasourceInfo.ConnectionDetails.
type DatasetSource struct {
	GatewayID, DatasourceID string
	Type                    string
	ConnectionDetails       map[string]string
}

type pbiWorkspace struct {
	id       string
	datasets map[string]*pbiDataset // by lower-case id
}

type pbiDataset struct {
	id, name string
	created  time.Time
	sources  []DatasetSource // bound ones by their ids only
}

// AddWorkspace adds an empty workspace (a group, in the API's paths).
func (p *PowerBI) AddWorkspace(id string) error {
	if !validUUID(id) {
		return fmt.Errorf("emulator: workspace id %q is not a UUID", id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := strings.ToLower(id)
	if p.workspaces[k] != nil {
		return fmt.Errorf("emulator: workspace %s already exists", id)
	}
	p.workspaces[k] = &pbiWorkspace{id: id, datasets: map[string]*pbiDataset{}}
	return nil
}

// AddDataset adds a dataset named name, using sources, to a workspace added
// before. The data sources bound to it must have been added before too;
// removing one (RemoveDatasource) unbinds it from the dataset.
func (p *PowerBI) AddDataset(workspaceID, datasetID, name string, sources ...DatasetSource) error {
	if !validUUID(datasetID) {
		return fmt.Errorf("emulator: dataset id %q is not a UUID", datasetID)
	}
	stored := make([]DatasetSource, len(sources))
	for i, s := range sources {
		switch {
		case s.GatewayID == "" && s.DatasourceID == "":
			if s.Type == "" {
				return fmt.Errorf("emulator: dataset %s: source %d is bound to no data source and has no Type", datasetID, i)
			}
			if err := checkConnectionDetails(s.ConnectionDetails); err != nil {
				return fmt.Errorf("emulator: dataset %s: source %d: %w", datasetID, i, err)
			}
			stored[i] = DatasetSource{Type: s.Type, ConnectionDetails: maps.Clone(s.ConnectionDetails)}
		case s.GatewayID == "" || s.DatasourceID == "":
			return fmt.Errorf("emulator: dataset %s: source %d has a GatewayID or a DatasourceID but not both", datasetID, i)
		case s.Type != "" || s.ConnectionDetails != nil:
			return fmt.Errorf("emulator: dataset %s: source %d is bound to a data source, whose info gives its Type and ConnectionDetails (SetDatasourceInfo)", datasetID, i)
		default:
			stored[i] = DatasetSource{GatewayID: s.GatewayID, DatasourceID: s.DatasourceID}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workspaces[strings.ToLower(workspaceID)]
	if w == nil {
		return fmt.Errorf("emulator: no workspace %s (AddWorkspace first)", workspaceID)
	}
	k := strings.ToLower(datasetID)
	if w.datasets[k] != nil {
		return fmt.Errorf("emulator: dataset %s/%s already exists", workspaceID, datasetID)
	}
	for i, s := range stored {
		if s.GatewayID != "" && p.datasources[keyOf(s.GatewayID, s.DatasourceID)] == nil {
			return fmt.Errorf("emulator: dataset %s: source %d: no data source %s/%s", datasetID, i, s.GatewayID, s.DatasourceID)
		}
	}
	if name == "" {
		name = "emulated-dataset-" + datasetID[:8]
	}
	w.datasets[k] = &pbiDataset{id: datasetID, name: name, created: p.now(), sources: stored}
	return nil
}

// unbindLocked drops data source k from every dataset bound to it.
func (p *PowerBI) unbindLocked(k pbiKey) {
	for _, w := range p.workspaces {
		for _, ds := range w.datasets {
			ds.sources = slices.DeleteFunc(ds.sources, func(s DatasetSource) bool {
				return s.GatewayID != "" && keyOf(s.GatewayID, s.DatasourceID) == k
			})
		}
	}
}

// serveDatasets answers Get Datasets In Group.
func (p *PowerBI) serveDatasets(w http.ResponseWriter, r *http.Request, rt pbiRoute) {
	p.mu.Lock()
	ws := p.workspaces[strings.ToLower(rt.groupID)]
	var list []map[string]any
	if ws != nil {
		for _, ds := range ws.datasets {
			list = append(list, p.datasetJSONLocked(ws, ds))
		}
	}
	p.mu.Unlock()
	if ws == nil {
		pbiError(w, http.StatusNotFound, CodePowerBIEntityNotFound, "")
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
	servePage(p, w, r, "https://api.powerbi.com/v1.0/myorg/groups/"+ws.id+"/$metadata#datasets", list)
}

// datasetJSONLocked is the part of the swagger Dataset that Get Datasets
// In Group answers, with the camelCase names the service sends.
func (p *PowerBI) datasetJSONLocked(ws *pbiWorkspace, ds *pbiDataset) map[string]any {
	onPrem := slices.ContainsFunc(ds.sources, func(s DatasetSource) bool {
		d := p.datasources[keyOf(s.GatewayID, s.DatasourceID)]
		return d != nil && !d.cloud
	})
	return map[string]any{
		"id":                               ds.id,
		"name":                             ds.name,
		"webUrl":                           "https://app.powerbi.com/groups/" + ws.id + "/datasets/" + ds.id,
		"addRowsAPIEnabled":                false,
		"configuredBy":                     "emulator@contoso.com",
		"isRefreshable":                    true,
		"isEffectiveIdentityRequired":      false,
		"isEffectiveIdentityRolesRequired": false,
		"isOnPremGatewayRequired":          onPrem,
		"targetStorageMode":                "Abf",
		"createdDate":                      ds.created.UTC().Format(time.RFC3339),
	}
}

// serveDatasetSources answers Get Datasources In Group: the dataset's
// sources in the order they were added, connectionDetails an object here.
func (p *PowerBI) serveDatasetSources(w http.ResponseWriter, r *http.Request, rt pbiRoute) {
	p.mu.Lock()
	ws := p.workspaces[strings.ToLower(rt.groupID)]
	var ds *pbiDataset
	if ws != nil {
		ds = ws.datasets[strings.ToLower(rt.datasetID)]
	}
	var list []map[string]any
	if ds != nil {
		for _, s := range ds.sources {
			if s.GatewayID == "" {
				list = append(list, map[string]any{"datasourceType": s.Type, "connectionDetails": connectionObject(s.ConnectionDetails)})
				continue
			}
			d := p.datasources[keyOf(s.GatewayID, s.DatasourceID)]
			if d == nil {
				continue // cannot happen: RemoveDatasource unbinds
			}
			info := d.described()
			list = append(list, map[string]any{
				"datasourceType":    info.Type,
				"connectionDetails": connectionObject(info.ConnectionDetails),
				"gatewayId":         d.gatewayID,
				"datasourceId":      d.id,
			})
		}
	}
	p.mu.Unlock()
	switch {
	case ws == nil, ds == nil:
		pbiError(w, http.StatusNotFound, CodePowerBIEntityNotFound, "")
	default:
		servePage(p, w, r, "https://api.powerbi.com/v1.0/myorg/groups/"+ws.id+"/$metadata#datasources", list)
	}
}

func connectionObject(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
