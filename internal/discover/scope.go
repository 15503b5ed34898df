package discover

import (
	"net"
	"net/url"
	"strings"

	"github.com/rotatord/rotatord/internal/pbi"
)

// oauthScope guesses the Entra scope of an OAuth2 data source's resource
// from its type and where it is: the scope a token for it must be issued
// for. ok is false when the resource is not one whose scope is known.
func oauthScope(d *Datasource) (scope string, ok bool) {
	host := strings.ToLower(resourceHost(d.Details))
	switch {
	case d.DatasourceType == "AzureBlobs", d.DatasourceType == "AzureDataLakeStorage", d.DatasourceType == "AzureTables",
		strings.HasSuffix(host, ".blob.core.windows.net"), strings.HasSuffix(host, ".dfs.core.windows.net"),
		strings.HasSuffix(host, ".table.core.windows.net"):
		return "https://storage.azure.com/.default", true
	case strings.HasSuffix(host, ".database.windows.net"), strings.HasSuffix(host, ".sql.azuresynapse.net"),
		strings.HasSuffix(host, ".datawarehouse.fabric.microsoft.com"):
		return "https://database.windows.net/.default", true
	case strings.HasSuffix(host, ".kusto.windows.net"), strings.HasSuffix(host, ".kusto.fabric.microsoft.com"):
		return "https://" + host + "/.default", true // Data Explorer: the cluster is the resource
	case strings.HasSuffix(host, ".asazure.windows.net"):
		return "https://*.asazure.windows.net/.default", true
	case strings.HasSuffix(host, ".sharepoint.com"), strings.HasSuffix(host, ".dynamics.com"):
		return "https://" + host + "/.default", true // SharePoint Online, Dataverse: the tenant's host
	case host == "graph.microsoft.com":
		return "https://graph.microsoft.com/.default", true
	case strings.HasSuffix(host, ".vault.azure.net"):
		return "https://vault.azure.net/.default", true
	}
	return "", false
}

// resourceHost is the host a data source connects to: its server's, else
// its URL's.
func resourceHost(c pbi.ConnectionDetails) string {
	if c.Server != "" {
		return hostOf(c.Server)
	}
	return hostOf(c.URL)
}

// hostOf returns the host that a server or URL names, without scheme, port,
// path or SQL Server's ",port" and "\instance".
func hostOf(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
		_, s, _ = strings.Cut(s, "://")
	}
	if p, ok := strings.CutPrefix(strings.ToLower(s), "tcp:"); ok {
		s = p
	}
	s, _, _ = strings.Cut(s, "/")
	s, _, _ = strings.Cut(s, ",")
	s, _, _ = strings.Cut(s, `\`)
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	return s
}
