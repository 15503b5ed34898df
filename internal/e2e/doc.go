// Package e2e holds rotatord's end-to-end tests: they build the rotatord
// binary and drive it as an operator would, against the in-process emulators
// of Power BI, Fabric, Key Vault and Entra ID, trusting their CA through
// SSL_CERT_FILE as a real deployment trusts its system roots.
package e2e
