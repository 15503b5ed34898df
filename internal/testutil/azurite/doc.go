// Package azurite runs Azurite, Microsoft's Azure Storage emulator, for a
// test: the blob service only, on a loopback port of its own, over HTTPS
// with a leaf of the test's emulator CA, with OAuth on, so the real azblob
// client reaches it with a bearer token from the emulated Entra ID, the
// token path rotatord uses in production.
//
// Azurite is pinned in scripts/azurite (npm ci there installs it;
// scripts/test.sh does so on a fresh clone). A missing install fails the
// test rather than skipping it: CI must run these tests. Callers skip under
// -short themselves.
//
// What Azurite's "--oauth basic" checks of a token: that it is a JWT with
// iat, nbf and exp, that now lies between nbf and exp, that the issuer
// starts with one of Entra's (https://sts.windows.net/ and the sovereign
// clouds'), and that the audience is storage's (https://storage.azure.com,
// its app ID, or an account's blob endpoint). It does not check the
// signature, the tenant or any role. A token it refuses gets 403
// AuthenticationFailed (Azure may answer 401 with a bearer challenge: code
// under test should take both as a refusal). A request with no
// Authorization header is anonymous, refused with 403 AuthorizationFailure
// unless the container is public. The well-known devstoreaccount1 shared
// key is accepted too; rotatord never uses it.
//
// The tests here pin what the high-availability code relies on: a create
// with If-None-Match: * on an existing blob gets 409 BlobAlreadyExists, a
// write with If-Match on a stale ETag 412 ConditionNotMet, a second
// holder's acquire 409 LeaseAlreadyPresent, and a lease duration outside
// 15 to 60 s (and not -1) 400 InvalidHeaderValue.
//
// It serves tests only; no production package imports it.
package azurite
