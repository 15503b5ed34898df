package state

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// encode streams the document json.MarshalIndent would make, byte for byte,
// so files written before and after it changed read the same.
func TestEncodeMatchesMarshalIndent(t *testing.T) {
	at := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	for name, recs := range map[string][]record{
		"empty": nil,
		"one":   {{"sales-sql", Datasource{LastSuccess: at, LastAttempt: at}}},
		"several, escaped names": {
			{"a\"<b>&", Datasource{LastError: "patch: throttled"}},
			{"ledger", Datasource{SourceVersion: "0123abcd", ExpiresAt: at.Add(time.Hour), CredentialSetAt: at}},
			{"zz-\u00e9", Datasource{}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := File{Version: Version, Datasources: map[string]Datasource{}}
			for _, r := range recs {
				f.Datasources[r.name] = r.Datasource
			}
			want, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := encode(&got, recs); err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want)+"\n" {
				t.Errorf("encode wrote\n%s\nwant\n%s", got.String(), want)
			}
		})
	}
}
