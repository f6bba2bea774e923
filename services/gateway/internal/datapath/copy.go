package datapath

import (
	"context"
	"errors"
	"fmt"
	"io"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// errCopyStopped ends the source read of a copy whose write stopped first.
var errCopyStopped = errors.New("datapath: copy destination stopped")

// Copy writes bytes [offset, offset+length) of the object made of src as a
// new object described by dst (its Body and Size are set here). The source
// is decoded and the destination encoded concurrently through a pipe, so
// memory stays bounded by a few stripes on each side. A failure to read the
// source is returned as is (never as a BodyError: the client's body is not
// involved).
func (s *Store) Copy(ctx context.Context, src []*metadatav1.Segment, offset, length int64, dst PutRequest) (PutResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	readErr := make(chan error, 1)
	go func() {
		err := s.Get(ctx, src, offset, length, pw)
		// A nil error gives the writer side io.EOF.
		pw.CloseWithError(err)
		readErr <- err
	}()
	dst.Body, dst.Size = pr, length
	res, err := s.Put(ctx, dst)
	// Stop the source read if the write ended early, then wait for it.
	pr.CloseWithError(errCopyStopped)
	cancel()
	rerr := <-readErr
	var bodyErr *BodyError
	if rerr != nil && !errors.Is(rerr, errCopyStopped) && (err == nil || errors.As(err, &bodyErr)) {
		return PutResult{}, fmt.Errorf("read copy source: %w", rerr)
	}
	if err != nil {
		return PutResult{}, err
	}
	return res, nil
}
