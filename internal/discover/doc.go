// Package discover reads the estate rotatord's identity can see in Power BI
// and turns it into an inventory, or compares it with one.
//
// Discover lists the gateways (Get Gateways, or the ones asked for), their
// data sources and the data sources' users, and for each workspace asked
// for the data sources its datasets are bound to (Get Datasources In Group),
// which name cloud data sources by the virtual gateway and data source ids
// that Update Datasource takes. A data source several datasets share is one
// data source. A pair no listing covers — a cloud data source, one on a
// gateway outside the listing, an inventory entry looked up for a diff — is
// read with Get Datasource, after Get Gateway has said whether its gateway
// is real (200: on-premises, 404: the virtual gateway of cloud data
// sources). Every call goes through the Lister, concurrently up to
// Options.Workers; what cannot be read becomes a Problem, never a silent
// gap, and the rest is still listed.
//
// With Options.Connections it lists Fabric's connections too (List
// Connections; paging is the client's), and reads one by one with Get
// Connection each inventory connection the listing lacks, a 404 making it
// MissingConnections. In Fabric an on-premises gateway connection's id is
// its Power BI data source's: such a pair is one data source, written once
// (see Render). It reads the role assignments (List Connection Role
// Assignments) of each connection the inventory is to hold with
// connection_id, and of each inventory connection found: a connection's
// users.
//
// Render prints an Estate as an inventory that `rotatord check` accepts:
// the settings of the config it was given (or the built-in ones), then one
// entry per data source with a readable unique name, the service's
// credential type, encrypt: gateway or none, its users, and Key Vault secret
// names derived from the entry's name, so that `rotatord plan` lists the
// secrets still to create; then the Fabric connections it can serve, with
// connection_id, their sources alike and placeholders for the literals
// Fabric does not tell (a service principal's tenant and client IDs, a key
// pair's identifier), and their role assignments as users, but for the
// identity rotatord runs as (Options.Self). What the inventory cannot
// serve is printed as a comment with the reason. Diff compares an Estate
// with an inventory and reports each drift on one line.
//
// The package reads the services through the small Lister and
// ConnectionLister interfaces (the pbi and fabric clients implement them)
// and knows nothing of how calls are made.
package discover
