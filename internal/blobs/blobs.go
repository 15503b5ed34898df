// Package blobs is rotatord's way to an Azure Storage blob: the SDK's
// block blob client over rotatord's transport, with every response body
// bounded, and errors that name the blob and say what an operator fixes.
// The lease blob (package leader) and the state blob (package state) both
// go through it.
package blobs

import (
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/rotatord/rotatord/internal/wire"
)

// NewClient returns the client of the blob at url, authenticated with
// cred's tokens, sending through transport (nil: wire.NewClient's, which
// keeps redirects to the blob's host). A 2xx body longer than maxBody, or
// an error body longer than wire.MaxErrorBody, fails the read. what names
// the blob in errors ("state blob").
func NewClient(what, url string, cred azcore.TokenCredential, transport policy.Transporter, maxBody int64) (*blockblob.Client, error) {
	c, err := blockblob.NewClient(url, cred, &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: wire.LimitBodies(transport, maxBody),
	}})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, url, err)
	}
	return c, nil
}

// Error describes err, the failure of op on the blob what at url: a
// missing container and a refused role say how to fix them; another answer
// gives its status and the service's error code.
func Error(what, url, op string, err error) error {
	var re *azcore.ResponseError
	switch {
	case err == nil:
		return nil
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return fmt.Errorf("%s %s: %s: the container does not exist: create it", what, url, op)
	case errors.As(err, &re) && re.StatusCode == 403:
		return fmt.Errorf("%s %s: %s: %s: rotatord's identity needs the role Storage Blob Data Contributor on the container", what, url, op, Code(err))
	case errors.As(err, &re):
		return fmt.Errorf("%s %s: %s: HTTP %d %s", what, url, op, re.StatusCode, Code(err))
	}
	return fmt.Errorf("%s %s: %s: %w", what, url, op, err)
}

// Code is the storage error code of err, or its text.
func Code(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return re.ErrorCode
	}
	return err.Error()
}
