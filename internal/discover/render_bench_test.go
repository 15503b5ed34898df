package discover

import (
	"fmt"
	"testing"

	"github.com/rotatord/rotatord/internal/pbi"
)

// BenchmarkRender prints an estate of 10,000 data sources with a user
// each, the size of BenchmarkDiscover's (internal/e2e), as an inventory.
//
//	go test -run '^$' -bench BenchmarkRender -benchmem ./internal/discover/
func BenchmarkRender(b *testing.B) {
	e := &Estate{}
	for i := range 10_000 {
		e.Datasources = append(e.Datasources, &Datasource{
			GatewayDatasource: pbi.GatewayDatasource{ID: fmt.Sprintf("10000000-0000-4000-8000-%012d", i),
				GatewayID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i/50), DatasourceType: "Sql", CredentialType: "Basic"},
			Details:     pbi.ConnectionDetails{Server: fmt.Sprintf("sql%03d.contoso.local", i/50), Database: fmt.Sprintf("db%02d", i%50)},
			GatewayName: "Finance GW",
			Users:       []pbi.DatasourceUser{{EmailAddress: "john@contoso.com", DatasourceAccessRight: "Read", PrincipalType: "User"}},
			UsersKnown:  true,
		})
	}
	var size int
	for b.Loop() {
		out, _, err := Render(e, RenderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size)/(1<<20), "output-MiB")
}
