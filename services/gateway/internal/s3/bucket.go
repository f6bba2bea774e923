package s3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
)

// maxConfigBody bounds XML request bodies such as CreateBucketConfiguration.
const maxConfigBody = 64 << 10

// defaultRegion is the region whose location constraint is empty.
const defaultRegion = "us-east-1"

// maxBucketsLimit is the largest max-buckets S3 accepts.
const maxBucketsLimit = 10000

// listBuckets answers ListBuckets with its optional paging and filters:
// prefix, bucket-region, max-buckets and continuation-token (the name of
// the last bucket of the previous page; the token is opaque to clients).
// The tenant's buckets are few (S3 caps an account at 10,000), so they are
// read whole and paged here.
func (h *Handler) listBuckets(req *request) error {
	q := req.route.Query
	limit := 0
	if v, ok := q["max-buckets"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxBucketsLimit {
			return errorf(ErrInvalidArgument, "Argument max-buckets must be an integer between 1 and %d.", maxBucketsLimit)
		}
		limit = n
	}
	prefix, region, after := q.Get("prefix"), q.Get("bucket-region"), q.Get("continuation-token")
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.ListBuckets(ctx, &metadatav1.ListBucketsRequest{})
	if err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	out := listAllMyBucketsResult{Owner: h.owner, Prefix: prefix}
	buckets := resp.GetBuckets()
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].GetName() < buckets[j].GetName() })
	for _, b := range buckets {
		name := b.GetName()
		if name <= after || !strings.HasPrefix(name, prefix) || (region != "" && b.GetRegion() != region) {
			continue
		}
		if limit > 0 && len(out.Buckets.Bucket) == limit {
			out.ContinuationToken = out.Buckets.Bucket[limit-1].Name
			break
		}
		out.Buckets.Bucket = append(out.Buckets.Bucket, bucketEntry{
			Name:         name,
			CreationDate: xmlTime(b.GetCreatedAt().AsTime()),
			BucketRegion: b.GetRegion(),
		})
	}
	return h.writeXML(req, out)
}

// readConfigBody reads a small XML request body to its end (which is where a
// signed payload is verified).
func readConfigBody(body io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxConfigBody+1))
	if err != nil {
		return nil, &datapath.BodyError{Err: err}
	}
	if len(data) > maxConfigBody {
		return nil, errorf(ErrInvalidRequest, "The request body exceeds %d bytes.", maxConfigBody)
	}
	return data, nil
}

// locationError checks CreateBucket's location constraint against the
// gateway's region, answering as AWS does.
func (h *Handler) locationError(loc string) *Error {
	if loc == "EU" {
		loc = "eu-west-1" // the legacy alias
	}
	switch {
	case loc == defaultRegion:
		// As on AWS: us-east-1 is never named, a bucket there has no
		// location constraint.
		return newError(ErrInvalidLocationConstraint, "").With("LocationConstraint", loc)
	case loc == h.cfg.Region:
		return nil
	case loc == "" && h.cfg.Region == defaultRegion:
		return nil
	case loc == "":
		return newError(ErrIllegalLocationConstraintException,
			"The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	case !regionLike(loc):
		return newError(ErrInvalidLocationConstraint, "")
	}
	return errorf(ErrIllegalLocationConstraintException,
		"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", loc)
}

// regionLike reports whether s could be a region name.
func regionLike(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (h *Handler) createBucket(req *request) error {
	lock, _ := strconv.ParseBool(req.r.Header.Get("x-amz-bucket-object-lock-enabled"))
	data, err := readConfigBody(req.body)
	if err != nil {
		return err
	}
	var cfg createBucketConfiguration
	if len(bytes.TrimSpace(data)) > 0 {
		if err := xml.Unmarshal(data, &cfg); err != nil {
			return newError(ErrMalformedXML, "")
		}
	}
	if e := h.locationError(cfg.LocationConstraint); e != nil {
		return e
	}
	var tagDoc []byte
	if cfg.Tags != nil && len(cfg.Tags.Tag) > 0 {
		tags, e := cfg.Tags.validate(maxBucketTags, "Bucket")
		if e != nil {
			return e
		}
		if tagDoc, err = marshalXML(renderTagging(tags)); err != nil {
			return fmt.Errorf("encode bucket tags: %w", err)
		}
	}
	ownership, grants, e := h.createBucketAccess(req.r.Header)
	if e != nil {
		return e
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	_, err = h.meta.CreateBucket(ctx, &metadatav1.CreateBucketRequest{
		Name:         req.route.Bucket,
		Region:       h.cfg.Region,
		DataShards:   int32(h.cfg.Erasure.DataShards),
		ParityShards: int32(h.cfg.Erasure.ParityShards),
	})
	if err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if err := h.putBucketConfig(req, ownershipKind, []byte(ownership)); err != nil {
		return err
	}
	if err := h.storeBucketACL(req, ownership, grants); err != nil {
		return err
	}
	if tagDoc != nil {
		if err := h.putBucketConfig(req, bucketTagsKind, tagDoc); err != nil {
			return err
		}
	}
	if lock {
		if err := h.enableObjectLock(req); err != nil {
			// Leave no bucket without the object lock it was asked for.
			ctx, cancel := h.metaCtx(req)
			defer cancel()
			if _, derr := h.meta.DeleteBucket(ctx, &metadatav1.DeleteBucketRequest{Name: req.route.Bucket}); derr != nil {
				h.log.Error("create bucket: enabling object lock failed and the bucket could not be removed",
					"request_id", req.id, "bucket", req.route.Bucket, "err", derr)
			}
			return err
		}
	}
	req.w.Header().Set("Location", "/"+req.route.Bucket)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// createBucketAccess validates CreateBucket's x-amz-object-ownership and
// ACL headers and returns the new bucket's ownership setting and ACL.
func (h *Handler) createBucketAccess(hdr http.Header) (string, []aclGrant, *Error) {
	ownership := hdr.Get("X-Amz-Object-Ownership")
	if ownership == "" {
		ownership = ownershipEnforced
	}
	if !validOwnership(ownership) {
		return "", nil, errorf(ErrInvalidArgument, "Invalid x-amz-object-ownership header: %s", ownership)
	}
	in := readACLHeaders(hdr)
	if ownership == ownershipEnforced && !in.ownerOnly(h.owner.ID) {
		return "", nil, newError(ErrInvalidBucketAclWithObjectOwnership, "")
	}
	grants, e := h.grants(in, false)
	if e != nil {
		return "", nil, e
	}
	return ownership, grants, nil
}

// bucket fetches the addressed bucket's record.
func (h *Handler) bucket(req *request) (*metadatav1.Bucket, error) {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.GetBucket(ctx, &metadatav1.GetBucketRequest{Name: req.route.Bucket})
	if err != nil {
		return nil, fmt.Errorf("get bucket: %w", err)
	}
	if resp.GetBucket() == nil {
		return nil, errors.New("get bucket: empty response")
	}
	return resp.GetBucket(), nil
}

// bucketIsVersioned reports whether the addressed bucket has had versioning
// enabled, when AWS's BucketNotEmpty also asks to delete all versions.
func (h *Handler) bucketIsVersioned(req *request) bool {
	b, err := h.bucket(req)
	if err != nil {
		return false
	}
	v := b.GetVersioning()
	return v == metadatav1.Versioning_VERSIONING_ENABLED || v == metadatav1.Versioning_VERSIONING_SUSPENDED
}

func (h *Handler) headBucket(req *request) error {
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	req.w.Header().Set("x-amz-bucket-region", b.GetRegion())
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketLocation(req *request) error {
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	loc := b.GetRegion()
	if loc == defaultRegion {
		loc = ""
	}
	return h.writeXML(req, locationConstraint{Location: loc})
}

func (h *Handler) deleteBucket(req *request) error {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	if _, err := h.meta.DeleteBucket(ctx, &metadatav1.DeleteBucketRequest{Name: req.route.Bucket}); err != nil {
		if toS3Error(err).Code == ErrBucketNotEmpty && h.bucketIsVersioned(req) {
			return newError(ErrBucketNotEmpty, "The bucket you tried to delete is not empty. You must delete all versions in the bucket.")
		}
		return fmt.Errorf("delete bucket: %w", err)
	}
	// A bucket created again under this name starts without a policy.
	h.policies.forget(req.route.Bucket)
	h.buckets.forget(req.route.Bucket)
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
