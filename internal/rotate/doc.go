// Package rotate carries out one data source's rotation: resolve the secret,
// build the credentials JSON, encrypt it for the gateway, PATCH it into Power
// BI and make the data source's users match the inventory.
//
// It knows what a rotation is, never when one is due (that is the
// scheduler's) and never how secrets are fetched or encrypted (sources and
// cipher). A failure leaves the credential in Power BI as it was and comes
// back as an *Error naming the stage and a stable reason.
package rotate
