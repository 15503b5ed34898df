package leader

import (
	"bytes"
	"context"
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

	"github.com/rotatord/rotatord/internal/blobs"
	"github.com/rotatord/rotatord/internal/wire"
)

// holderKey is the lease blob's metadata entry naming the leader, for the
// followers' log lines.
const holderKey = "holder"

// what names the lease blob in errors.
const what = "lease blob"

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
	Transport policy.Transporter // nil: wire.NewClient's
	Identity  string             // written into the blob's metadata while leading
	Duration  time.Duration      // the lease's, 15s to 60s
}

// NewBlobLock returns the lock of the blob at url, leased with the
// identity cred gives. The blob is created, empty, the first time the lease
// is acquired.
func NewBlobLock(url string, cred azcore.TokenCredential, o BlobOptions) (*BlobLock, error) {
	// The lease's answers have no body.
	bb, err := blobs.NewClient(what, url, cred, o.Transport, wire.MaxErrorBody)
	if err != nil {
		return nil, err
	}
	l, err := lease.NewBlobClient(bb, nil) // a random lease ID, this process's for its lifetime
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, url, err)
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
		return blobs.Error(what, b.url, "acquire the lease", err)
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
		return fmt.Errorf("%w: %s", ErrLost, blobs.Code(err))
	}
	return blobs.Error(what, b.url, "renew the lease", err)
}

// Release gives the lease up, so that a stand-by takes over at once.
func (b *BlobLock) Release(ctx context.Context) error {
	_, err := b.lease.ReleaseLease(ctx, nil)
	if lost(err) {
		return nil // not ours any more: nothing to give up
	}
	return blobs.Error(what, b.url, "release the lease", err)
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
