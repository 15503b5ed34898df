package discover

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/rotatord/rotatord/internal/fabric"
)

// maxBase bounds a name before any suffix: with "-" and eight hex digits
// of the id it stays under the inventory's 64 characters, and with
// "-access-token" under Key Vault's 127 for a secret name.
const maxBase = 40

// uniqueNames makes the names base unique, in order: where several share
// one, each gets the first eight characters of its id (ids[i]) appended,
// and where those agree too, a number.
func uniqueNames(base, ids []string) []string {
	count := map[string]int{}
	for _, b := range base {
		count[b]++
	}
	out := make([]string, len(base))
	taken := map[string]bool{}
	for i, name := range base {
		if count[name] > 1 {
			name += "-" + slug(firstN(ids[i], 8), 8)
		}
		// Two ids alike in their first eight characters: number them.
		for n, stem := 2, name; taken[name]; n++ {
			name = stem + "-" + strconv.Itoa(n)
		}
		taken[name] = true
		out[i] = name
	}
	return out
}

// connectionBaseName is a Fabric connection's name before uniqueness: its
// display name, else what its details say it connects to (a path such as
// "sql02.contoso.local;sales"), else "connection".
func connectionBaseName(c *fabric.Connection) string {
	if name := slug(c.DisplayName, maxBase); name != "" {
		return name
	}
	if name := slug(c.ConnectionDetails.Path, maxBase); name != "" {
		return name
	}
	return "connection"
}

// baseName is d's name before uniqueness.
func baseName(d *Datasource) string {
	c := d.Details
	var parts []string
	switch {
	case c.Server != "":
		parts = append(parts, hostLabel(c.Server))
		if c.Database != "" {
			parts = append(parts, c.Database)
		}
	case c.URL != "":
		parts = append(parts, hostLabel(c.URL))
		if u, err := url.Parse(c.URL); err == nil {
			parts = append(parts, u.Path)
		}
	case c.Path != "":
		parts = append(parts, c.Path)
	case c.Account != "":
		parts = append(parts, c.Account)
	}
	name := slug(strings.Join(parts, "-"), maxBase)
	if name == "" {
		name = slug(d.DatasourceName, maxBase)
	}
	if name == "" {
		name = "datasource"
	}
	return name
}

// hostLabel returns what names a server readably: the first label of its
// host name (sql01 of sql01.contoso.local, contoso of
// contoso.database.windows.net), an IP address whole.
func hostLabel(server string) string {
	h := hostOf(server)
	if net.ParseIP(h) != nil {
		return h
	}
	label, _, _ := strings.Cut(h, ".")
	return label
}

// slug lower-cases s, turns every run of other characters than letters
// and digits into one '-', trims them from the ends and cuts the result to
// at most n bytes.
func slug(s string, n int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	out := b.String()
	if len(out) > n {
		out = strings.TrimRight(out[:n], "-")
	}
	return out
}

func firstN(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}
