package state

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/rotatord/rotatord/internal/blobs"
	"github.com/rotatord/rotatord/internal/clock"
)

// ConflictError is Save's error when the state blob changed since this
// process read it: another process took over and wrote it. Nothing was
// written, and nothing will be until Load reads the blob again.
type ConflictError struct {
	URL string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("state blob %s was written by another process since this one read it: not overwritten (another rotatord leads)", e.URL)
}

// BlobOptions configure OpenBlob.
type BlobOptions struct {
	Logger    *slog.Logger
	Clock     clock.Clock
	Transport policy.Transporter // nil: wire.NewClient's
	ReadOnly  bool               // Save refuses, as for OpenReadOnly
}

// stateBlob is where a Store of OpenBlob keeps its state.
type stateBlob struct {
	url    string
	client *blockblob.Client
	etag   azcore.ETag // of the version last read or written; "" when there was none
	// stale is set by a refused write: the blob is another's now, and only
	// a Load makes this Store write again.
	stale bool
}

// OpenBlob returns a Store kept in the blob at url, in the state file's
// format, read and written with the identity cred gives. It reads nothing:
// Load does, at every start and take-over. Save writes with If-Match on
// the ETag Load read (If-None-Match: * when there was no blob), so a write
// of a process that lost the lease after another wrote the blob is refused
// with a *ConflictError, never merged over the new leader's records.
func OpenBlob(url string, cred azcore.TokenCredential, o BlobOptions) (*Store, error) {
	c, err := blobs.NewClient("state blob", url, cred, o.Transport, MaxSize)
	if err != nil {
		return nil, err
	}
	s := Empty(Options{Logger: o.Logger, Clock: o.Clock})
	s.path, s.readOnly, s.blob = url, o.ReadOnly, &stateBlob{url: url, client: c}
	return s, nil
}

// Load reads the state blob again and replaces what the Store holds with
// it. A missing blob is an empty state; a corrupt one is logged, read as
// empty, and replaced at the next Save. For a state file Load does nothing:
// Open has read it, and one process owns it.
func (s *Store) Load(ctx context.Context) error {
	if s.blob == nil {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	resp, err := s.blob.client.DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		s.replace(map[string]Datasource{}, "")
		return nil
	}
	if err != nil {
		return blobs.Error("state blob", s.blob.url, "read", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSize+1))
	switch {
	case err != nil:
		return blobs.Error("state blob", s.blob.url, "read", err)
	case len(data) > MaxSize:
		return fmt.Errorf("state blob %s: larger than %d MiB", s.blob.url, MaxSize>>20)
	}
	etag := azcore.ETag("")
	if resp.ETag != nil {
		etag = *resp.ETag
	}
	dss, err := decode(data)
	if err != nil {
		s.log.Warn("state blob is corrupt; read as empty, replaced at the next save", "url", s.blob.url, "error", err)
		dss = map[string]Datasource{}
	}
	s.replace(dss, etag)
	return nil
}

// replace swaps in what Load read; s.saveMu must be held.
func (s *Store) replace(dss map[string]Datasource, etag azcore.ETag) {
	s.mu.Lock()
	s.dss = dss
	s.mu.Unlock()
	s.blob.etag, s.blob.stale = etag, false
}

// saveBlob writes recs to the blob on the condition that it is still the
// version last read or written; s.saveMu must be held.
func (s *Store) saveBlob(ctx context.Context, recs []record) error {
	if s.blob.stale {
		return &ConflictError{URL: s.blob.url}
	}
	var buf bytes.Buffer
	if err := encode(&buf, recs); err != nil {
		return fmt.Errorf("state blob %s: %w", s.blob.url, err)
	}
	cond := &blob.ModifiedAccessConditions{IfMatch: to.Ptr(s.blob.etag)}
	if s.blob.etag == "" {
		cond = &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}
	}
	resp, err := s.blob.client.Upload(ctx, streaming.NopCloser(bytes.NewReader(buf.Bytes())), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
		s.blob.stale = true
		return &ConflictError{URL: s.blob.url}
	}
	if err != nil {
		return blobs.Error("state blob", s.blob.url, "write", err)
	}
	if resp.ETag != nil {
		s.blob.etag = *resp.ETag
	}
	return nil
}
