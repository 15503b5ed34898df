// Package credentials builds the plaintext credentials JSON that Power BI
// expects in credentialDetails.credentials, before any gateway encryption:
//
//	{"credentialData":[{"name":"username","value":"..."},{"name":"password","value":"..."}]}
//
// It owns the list of credential types, which secret fields each type needs
// (in the configuration's spelling), and the exact JSON names and order the
// Power BI .NET SDK sends, so that a gateway decrypts the same bytes whichever
// client produced them. The JSON only ever leaves this package inside a
// secret.Secret.
package credentials
