// Package rotate carries out one data source's rotation: resolve the secret,
// build the credentials JSON, encrypt it for the gateway, PATCH it into Power
// BI and make the data source's users match the inventory.
//
// It knows what a rotation is, never when one is due (that is the
// scheduler's) and never how secrets are fetched or encrypted (sources and
// cipher): it reaches Power BI and Key Vault through the small PowerBI and
// KeyVault interfaces, which *pbi.Client and *sources.KeyVault implement and
// tests fake in memory. A failure comes back as an *Error naming the stage
// and a stable reason. What it left in Power BI depends on the stage: a
// failure before the PATCH (source, encrypt) changed nothing; a failure
// after it (users) did: the new credential is already stored, Result.Patched
// says so for the caller to record, and the users added or removed before
// the failure stay added or removed. A failed PATCH is meant to change nothing, but one
// whose answer was lost may have landed.
package rotate
