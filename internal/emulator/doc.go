// Package emulator runs in-process stand-ins for the services rotatord talks
// to — Power BI's gateway API and the dataset listings that lead to it,
// Fabric's connections and gateways API, Azure Key Vault, the
// managed-identity and Entra ID token endpoints — speaking their real wire
// protocols over HTTPS, so that the real azcore, azsecrets and azidentity
// clients work against them unchanged. It serves `rotatord demo` and the
// tests; nothing on a production path imports it.
package emulator
