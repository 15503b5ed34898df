package leader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
)

// holderKey is the lease blob's metadata entry naming the leader, for the
// followers' log lines.
const holderKey = "holder"

// BlobLock is a Lock on an Azure Storage blob's lease.
type BlobLock struct {
	url      string
	identity string
	duration int32 // seconds
	blob     *blob.Client
	block    *blockblob.Client // the same blob, to create it
	lease    *lease.BlobClient
}

// BlobOptions configure NewBlobLock.
type BlobOptions struct {
	Transport policy.Transporter // nil: the SDK's default
	Identity  string             // written into the blob's metadata while leading
	Duration  time.Duration      // the lease's, 15s to 60s
}

// NewBlobLock returns the lock of the blob at url, leased with the
// identity cred gives. The blob is created, empty, the first time the lease
// is acquired.
func NewBlobLock(url string, cred azcore.TokenCredential, o BlobOptions) (*BlobLock, error) {
	bb, err := blockblob.NewClient(url, cred, &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: o.Transport}})
	if err != nil {
		return nil, fmt.Errorf("lease blob %s: %w", url, err)
	}
	l, err := lease.NewBlobClient(bb, nil) // a random lease ID, this process's for its lifetime
	if err != nil {
		return nil, fmt.Errorf("lease blob %s: %w", url, err)
	}
	return &BlobLock{url: url, identity: o.Identity, duration: int32(o.Duration / time.Second), blob: bb.BlobClient(), block: bb, lease: l}, nil
}

// Acquire takes the lease, creating the blob if it is missing. It returns a
// *HeldError when another process holds the lease.
func (b *BlobLock) Acquire(ctx context.Context) error {
	_, err := b.lease.AcquireLease(ctx, b.duration, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		if err = b.create(ctx); err == nil {
			_, err = b.lease.AcquireLease(ctx, b.duration, nil)
		}
	}
	switch {
	case bloberror.HasCode(err, bloberror.LeaseAlreadyPresent, bloberror.LeaseIsBreakingAndCannotBeAcquired):
		return &HeldError{Holder: b.holder(ctx)}
	case err != nil:
		return b.error("acquire the lease", err)
	}
	// Best effort: the metadata only names the leader in the followers'
	// logs, and the lease is held whether it is written or not.
	_, _ = b.blob.SetMetadata(ctx, map[string]*string{holderKey: to.Ptr(b.identity)}, &blob.SetMetadataOptions{
		AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: b.lease.LeaseID()}},
	})
	return nil
}

// create makes the empty lease blob; one made by another process meanwhile
// is as good.
func (b *BlobLock) create(ctx context.Context) error {
	_, err := b.block.Upload(ctx, streaming.NopCloser(bytes.NewReader(nil)), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.LeaseIDMissing) {
		return nil
	}
	return err
}

// Renew extends the lease; ErrLost when it is no longer this process's.
func (b *BlobLock) Renew(ctx context.Context) error {
	_, err := b.lease.RenewLease(ctx, nil)
	if lost(err) {
		return fmt.Errorf("%w: %s", ErrLost, code(err))
	}
	return b.error("renew the lease", err)
}

// Release gives the lease up, so that a stand-by takes over at once.
func (b *BlobLock) Release(ctx context.Context) error {
	_, err := b.lease.ReleaseLease(ctx, nil)
	if lost(err) {
		return nil // not ours any more: nothing to give up
	}
	return b.error("release the lease", err)
}

// holder reads who holds the lease; "" if that cannot be told.
func (b *BlobLock) holder(ctx context.Context) string {
	p, err := b.blob.GetProperties(ctx, nil)
	if err != nil {
		return ""
	}
	for k, v := range p.Metadata {
		if strings.EqualFold(k, holderKey) && v != nil {
			return *v
		}
	}
	return ""
}

// lost reports an answer saying the lease is not this process's.
func lost(err error) bool {
	return bloberror.HasCode(err, bloberror.LeaseIDMismatchWithLeaseOperation, bloberror.LeaseLost,
		bloberror.LeaseNotPresentWithLeaseOperation, bloberror.LeaseAlreadyPresent, bloberror.BlobNotFound)
}

// code is the storage error code of err, or its text.
func code(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return re.ErrorCode
	}
	return err.Error()
}

// error names the blob and, for the refusals an operator fixes, how.
func (b *BlobLock) error(what string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return fmt.Errorf("lease blob %s: %s: the container does not exist: create it", b.url, what)
	case errors.As(err, &re) && re.StatusCode == 403:
		return fmt.Errorf("lease blob %s: %s: %s: rotatord's identity needs the role Storage Blob Data Contributor on the container", b.url, what, code(err))
	case errors.As(err, &re):
		return fmt.Errorf("lease blob %s: %s: HTTP %d %s", b.url, what, re.StatusCode, code(err))
	}
	return fmt.Errorf("lease blob %s: %s: %w", b.url, what, err)
}
