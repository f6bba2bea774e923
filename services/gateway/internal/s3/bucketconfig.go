package s3

import (
	"errors"
	"fmt"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// isReason reports whether err is a metadata status carrying reason.
func isReason(err error, reason metadatav1.Reason) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			r := strings.TrimPrefix(info.GetReason(), "REASON_")
			if "REASON_"+r == reason.String() {
				return true
			}
		}
	}
	return false
}

// getBucketConfig returns the bucket's configuration document of kind, or
// nil when none is set. Each kind's own "not configured" error
// (NoSuchCORSConfiguration, NoSuchTagSet, ...) is the caller's to return.
func (h *Handler) getBucketConfig(req *request, kind string) ([]byte, error) {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.GetBucketConfig(ctx, &metadatav1.GetBucketConfigRequest{Bucket: req.route.Bucket, Kind: kind})
	if err != nil {
		if isReason(err, metadatav1.Reason_REASON_NO_SUCH_BUCKET_CONFIG) {
			return nil, nil
		}
		return nil, fmt.Errorf("get bucket %s config: %w", kind, err)
	}
	if resp.GetDocument() == nil {
		return nil, errors.New("get bucket config: empty document")
	}
	return resp.GetDocument(), nil
}

func (h *Handler) putBucketConfig(req *request, kind string, doc []byte) error {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	if _, err := h.meta.PutBucketConfig(ctx, &metadatav1.PutBucketConfigRequest{Bucket: req.route.Bucket, Kind: kind, Document: doc}); err != nil {
		return fmt.Errorf("put bucket %s config: %w", kind, err)
	}
	return nil
}

func (h *Handler) deleteBucketConfig(req *request, kind string) error {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	_, err := h.meta.DeleteBucketConfig(ctx, &metadatav1.DeleteBucketConfigRequest{Bucket: req.route.Bucket, Kind: kind})
	if err != nil && !isReason(err, metadatav1.Reason_REASON_NO_SUCH_BUCKET_CONFIG) {
		return fmt.Errorf("delete bucket %s config: %w", kind, err)
	}
	return nil
}
