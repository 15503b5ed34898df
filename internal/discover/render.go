package discover

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/pbi"
)

// The vault Render names when neither RenderOptions nor the header name
// one: an https URL that `rotatord check` accepts and no tenant owns, to be
// replaced by the operator's vault before `plan` can read it.
const (
	PlaceholderVaultName = "main"
	PlaceholderVaultURL  = "https://replace-me.vault.azure.net/"
)

// OAuth2Schedule is the schedule of a discovered OAuth2 data source: Power
// BI keeps no refresh token, so its credential dies after about an hour.
const OAuth2Schedule = "@every 45m"

// RenderOptions shape an inventory.
type RenderOptions struct {
	// Header is the inventory whose settings the output keeps (all but its
	// datasources, comments included); nil: the built-in settings, with
	// auth.method default.
	Header []byte
	// KeyVault names the vault under keyvaults: that the sources use; "":
	// the first the header declares, else PlaceholderVaultName. A name the
	// header lacks is added with PlaceholderVaultURL.
	KeyVault string
	// What is the first line of the comment above the data sources, e.g.
	// the command that discovered them.
	What string
}

// Render prints e as an inventory: the header's settings, then one entry
// per data source the inventory can serve (entries counts them), each under
// a comment saying what it is and who uses it: the Power BI data sources
// (gateway_id and datasource_id), then the Fabric connections
// (connection_id) that are not one of them. The data sources it cannot
// serve, and those bound to no gateway, are listed as comments above them.
func Render(e *Estate, o RenderOptions) (out []byte, entries int, err error) {
	doc, root, err := header(o.Header)
	if err != nil {
		return nil, 0, err
	}
	vault := useVault(root, o.KeyVault)

	seq := &yaml.Node{Kind: yaml.SequenceNode}
	var left []string
	for _, it := range items(e) {
		if why := it.unserved(); why != "" {
			left = append(left, fmt.Sprintf("%s %s: %s", it.id(), it.describe(), why))
			continue
		}
		if it.fabric {
			seq.Content = append(seq.Content, connectionEntry(it, vault, e.Self))
		} else {
			seq.Content = append(seq.Content, entry(it, vault))
		}
	}
	for _, u := range e.Unbound {
		left = append(left, fmt.Sprintf("dataset %s (%q, workspace %s) uses %s bound to no gateway: Power BI has no gateway data source to update",
			u.Dataset.ID, u.Dataset.Name, u.Dataset.Workspace, oneLine(strings.TrimSpace(u.Type+" "+summary(u.Details)))))
	}
	var head []string
	if o.What != "" {
		head = append(head, o.What)
	}
	from := count(e.Gateways, "gateway") + " and " + count(e.Workspaces, "workspace")
	if len(e.Connections) > 0 {
		from = count(e.Gateways, "gateway") + ", " + count(e.Workspaces, "workspace") + " and " + count(len(e.Connections), "Fabric connection")
	}
	head = append(head, fmt.Sprintf("%s from %s; review each entry, then create the secrets `rotatord plan` lists.",
		count(len(seq.Content), "data source"), from))
	if len(left) > 0 {
		head = append(head, "Left out, as rotatord cannot rotate them:")
		for _, l := range left {
			head = append(head, "  "+l)
		}
	}
	var buf bytes.Buffer
	if err := encode(&buf, doc); err != nil {
		return nil, 0, err
	}
	for _, l := range strings.Split(comment(head), "\n") {
		buf.WriteString("# " + l + "\n")
	}
	buf.WriteString("datasources:\n")
	// One entry at a time: yaml.v3's emitter copies its event queue as it
	// goes, which made one document of 10,000 entries take 960 MB and most
	// of a second (BenchmarkRender).
	var item bytes.Buffer
	for _, n := range seq.Content {
		item.Reset()
		if err := encode(&item, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}}); err != nil {
			return nil, 0, err
		}
		for _, l := range bytes.SplitAfter(bytes.TrimSuffix(item.Bytes(), []byte("\n")), []byte("\n")) {
			buf.WriteString("  ")
			buf.Write(l)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), len(seq.Content), nil
}

// encode writes n as YAML, indented by two.
func encode(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("discover: printing the inventory: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("discover: printing the inventory: %w", err)
	}
	return nil
}

// header parses the inventory whose settings the output keeps, without
// its datasources.
func header(src []byte) (doc, root *yaml.Node, err error) {
	doc = &yaml.Node{Kind: yaml.DocumentNode}
	if len(bytes.TrimSpace(src)) > 0 {
		if err := yaml.Unmarshal(src, doc); err != nil {
			return nil, nil, fmt.Errorf("discover: reading the config's settings: %w", err)
		}
	}
	if len(doc.Content) == 0 {
		root = mapping()
		auth := mapping("method", "default")
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "auth",
			HeadComment: "auth.method default tries the environment, workload identity, managed identity and the Azure CLI in turn."}, auth)
		doc.Content = []*yaml.Node{root}
		return doc, root, nil
	}
	root = doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("discover: the config is not a mapping")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "datasources" {
			root.Content = slices.Delete(root.Content, i, i+2)
			break
		}
	}
	return doc, root, nil
}

// useVault returns the vault the sources name, adding the placeholder to
// root's keyvaults when it lacks that vault.
func useVault(root *yaml.Node, name string) string {
	vaults := value(root, "keyvaults")
	if vaults == nil || vaults.Kind != yaml.MappingNode {
		vaults = mapping()
		setValue(root, "keyvaults", vaults)
	}
	if name == "" && len(vaults.Content) >= 2 {
		return vaults.Content[0].Value
	}
	if name == "" {
		name = PlaceholderVaultName
	}
	if value(vaults, name) == nil {
		vaults.Style = 0 // block style: a flow mapping cannot hold the comment
		vaults.Content = append(vaults.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: name, HeadComment: "A placeholder: write your vault's URL here (rotatord's identity needs Key Vault Secrets User on it)."},
			str(PlaceholderVaultURL))
	}
	return name
}

// unserved says why rotatord cannot rotate d, or "" when it can.
func unserved(d *Datasource) string {
	t, err := credentials.ParseType(d.CredentialType)
	switch {
	case err == nil && t.FabricOnly():
		return fmt.Sprintf("credential type %s is served by Fabric's connections API, not the gateway API: find the connection's id in Fabric and use connection_id", d.CredentialType)
	case err != nil:
		return fmt.Sprintf("credential type %q is not one rotatord rotates (Basic, Windows, Key, OAuth2, SAS, Anonymous)", clip(d.CredentialType, 40))
	case t == credentials.OAuth2 && d.CredentialDetails != nil && d.CredentialDetails.UseEndUserOAuth2Credentials:
		return "it signs in with each viewer's own identity (single sign-on): there is no stored credential to rotate"
	}
	return ""
}

// entry is the inventory entry of it, a Power BI data source.
func entry(it item, vault string) *yaml.Node {
	d, name := it.ds, it.name
	t := credentials.Type(d.CredentialType)
	encrypt := "gateway"
	if d.Cloud {
		encrypt = "none"
	}
	m := mapping("name", name, "gateway_id", d.GatewayID, "datasource_id", d.ID,
		"credential_type", string(t), "encrypt", encrypt)
	if t == credentials.OAuth2 {
		setValue(m, "schedule", str(OAuth2Schedule))
	}
	notes := []string{describe(d)}
	if len(d.Datasets) > 0 {
		notes = append(notes, "used by "+datasets(d.Datasets))
	}
	if c := it.conn; c != nil {
		notes = append(notes, fmt.Sprintf("also Fabric connection ID %s (%s, %s): written once, as the Power BI data source",
			c.ID, clip(c.ConnectivityType, 40), clip(c.CredentialDetails.CredentialType, 40)))
	}
	if src, note := source(d, name, vault); src != nil {
		setValue(m, "source", src)
		if note != "" {
			notes = append(notes, note)
		}
	}
	users, skipped := inventoryUsers(d.Users)
	if len(users.Content) > 0 {
		setValue(m, "users", users)
	}
	notes = append(notes, skipped...)
	if !d.UsersKnown {
		notes = append(notes, "its users could not be read: none are listed")
	}
	m.HeadComment = comment(notes)
	return m
}

// source is where d's credential is to come from: Key Vault secrets named
// after the entry, or the OAuth2 scope rotatord gets a token for. note, if
// any, tells the operator what to decide.
func source(d *Datasource, name, vault string) (src *yaml.Node, note string) {
	t := credentials.Type(d.CredentialType)
	if t != credentials.OAuth2 {
		return secretSource(t, name, vault)
	}
	if scope, ok := oauthScope(d); ok {
		return mapping("oauth_scope", scope), "oauth_scope guessed from the data source's type and host: rotatord gets the token with its own identity"
	}
	k, v := secretRef(credentials.FieldAccessToken, name)
	return mapping("keyvault", vault, k, v),
		"no scope is known for this resource: set oauth_scope to its scope, or keep a fresh access token in the secret named here"
}

// secretRef is the source key that reads field from Key Vault, and the
// secret's name: the entry's name and the field's (sales-sql-password).
func secretRef(field, name string) (key, secret string) {
	return field + "_secret", name + "-" + strings.ReplaceAll(field, "_", "-")
}

// secretSource is the source of a credential of type t from Key Vault
// secrets named after the entry, the literals Fabric does not tell written
// as placeholders; nil for a type that takes none (Anonymous,
// WorkspaceIdentity). note, if any, says what to set.
func secretSource(t credentials.Type, name, vault string) (src *yaml.Node, note string) {
	ref := func(field string) []string {
		k, v := secretRef(field, name)
		return []string{k, v}
	}
	kv := []string{"keyvault", vault}
	switch t {
	case credentials.Basic, credentials.Windows:
		return mapping(append(append(kv, ref(credentials.FieldUsername)...), ref(credentials.FieldPassword)...)...), ""
	case credentials.Key:
		return mapping(append(kv, ref(credentials.FieldKey)...)...), ""
	case credentials.SAS:
		return mapping(append(kv, ref(credentials.FieldToken)...)...), ""
	case credentials.ServicePrincipal:
		m := mapping(append(append(kv, credentials.FieldTenantID, PlaceholderTenantID, credentials.FieldClientID, PlaceholderClientID),
			ref(credentials.FieldClientSecret)...)...)
		value(m, credentials.FieldTenantID).LineComment = "placeholder: the service principal's tenant ID"
		value(m, credentials.FieldClientID).LineComment = "placeholder: its client (application) ID"
		return m, "tenant_id and client_id are placeholders, as Fabric does not tell them: set them to the service principal's tenant and client (application) IDs"
	case credentials.KeyPair:
		m := mapping(append(append(kv, credentials.FieldIdentifier, PlaceholderIdentifier), ref(credentials.FieldPrivateKey)...)...)
		value(m, credentials.FieldIdentifier).LineComment = "placeholder: the account the key signs in as"
		return m, "identifier is a placeholder, as Fabric does not tell it: set it to the user or account the key pair signs in as; " +
			"the secret holds the PKCS#8 PEM private key, and an encrypted one needs passphrase_secret too"
	}
	return nil, "" // Anonymous, WorkspaceIdentity
}

// inventoryUsers turns a data source's users into the inventory's, and
// says which it cannot express.
func inventoryUsers(have []pbi.DatasourceUser) (users *yaml.Node, skipped []string) {
	users = &yaml.Node{Kind: yaml.SequenceNode}
	for _, u := range have {
		who := clip(u.ID(), 80)
		access := u.DatasourceAccessRight
		var kv []string
		switch {
		case access != "Read" && access != "ReadOverrideEffectiveIdentity":
			skipped = append(skipped, fmt.Sprintf("user %s left out: access %q is not Read or ReadOverrideEffectiveIdentity", who, clip(access, 40)))
			continue
		case u.EmailAddress != "" && u.PrincipalType != "App":
			kv = []string{"email", u.EmailAddress}
			if u.PrincipalType == "Group" {
				kv = append(kv, "principal_type", "Group")
			}
		case u.Identifier != "" && slices.Contains([]string{"User", "Group", "None"}, u.PrincipalType),
			u.Identifier != "" && u.PrincipalType == "App" && pbi.IsUUID(u.Identifier):
			kv = []string{"identifier", u.Identifier, "principal_type", u.PrincipalType}
		default:
			skipped = append(skipped, fmt.Sprintf("user %s left out: principal type %q cannot be written in the inventory", who, clip(u.PrincipalType, 40)))
			continue
		}
		kv = append(kv, "access", access)
		if u.DisplayName != "" {
			kv = append(kv, "display_name", u.DisplayName)
		}
		n := mapping(kv...)
		n.Style = yaml.FlowStyle
		users.Content = append(users.Content, n)
	}
	return users, skipped
}

// describe says what d is, for the comment above its entry.
func describe(d *Datasource) string {
	var b strings.Builder
	b.WriteString(cmp.Or(d.DatasourceType, "data source"))
	if s := summary(d.Details); s != "" {
		b.WriteString(" " + s)
	}
	if d.DatasourceName != "" {
		fmt.Fprintf(&b, " (%q)", clip(d.DatasourceName, 80))
	}
	if d.Cloud {
		b.WriteString(", cloud")
	} else if d.GatewayName != "" {
		fmt.Fprintf(&b, " on gateway %q", clip(d.GatewayName, 80))
	}
	return b.String()
}

// summary is where a data source is: server/database, URL or path.
func summary(c pbi.ConnectionDetails) string {
	switch {
	case c.Server != "" && c.Database != "":
		return clip(c.Server+"/"+c.Database, 160)
	case c.Server != "":
		return clip(c.Server, 160)
	case c.URL != "":
		return clip(c.URL, 160)
	case c.Path != "":
		return clip(c.Path, 160)
	}
	return clip(c.Account, 160)
}

// datasets lists the datasets using a data source, the first few by name.
func datasets(refs []DatasetRef) string {
	const most = 5
	var names []string
	for i, r := range refs {
		if i == most {
			names = append(names, fmt.Sprintf("and %d more", len(refs)-most))
			break
		}
		names = append(names, fmt.Sprintf("%q (workspace %s)", clip(r.Name, 60), r.Workspace))
	}
	return strings.Join(names, ", ")
}

// count is "1 gateway", "2 gateways".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// comment joins lines into a YAML comment, each made safe by oneLine.
func comment(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = oneLine(l)
	}
	return strings.Join(out, "\n")
}

// oneLine makes text from the service safe in a YAML comment: one line of
// UTF-8 (yaml.v3 panics on anything else), no control characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// mapping builds a block mapping of string keys and values.
func mapping(kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, str(kv[i]), str(kv[i+1]))
	}
	return m
}

// str is a string scalar, quoted by the encoder where YAML would read it
// as something else. yaml.v3 panics on invalid UTF-8, which a name or an
// address from the service might hold.
func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.ToValidUTF8(s, "\uFFFD")}
}

// value returns the value of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setValue sets key in mapping m, appending it when m lacks it.
func setValue(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}
