// Package credentials builds the plaintext credentials JSON that Power BI
// expects in credentialDetails.credentials, before any gateway encryption:
//
//	{"credentialData":[{"name":"username","value":"..."},{"name":"password","value":"..."}]}
//
// and the typed credentials object Fabric's connections API takes in clear
// for cloud and virtual-network connections (Typed):
//
//	{"credentialType":"Basic","username":"...","password":"..."}
//
// It owns the list of credential types, which fields each type needs (in the
// configuration's spelling), which of those are secrets and which literals
// (a user name, a tenant ID), and the exact JSON names and order the Power
// BI .NET SDK sends, so that a gateway decrypts the same bytes whichever
// client produced them. The JSON only ever leaves this package inside a
// secret.Secret.
package credentials
