package s3

import (
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// Bucket policy operations and request authorization against the policy
// (policy.go says what a policy means).
const (
	OpPutBucketPolicy       = "PutBucketPolicy"
	OpGetBucketPolicy       = "GetBucketPolicy"
	OpDeleteBucketPolicy    = "DeleteBucketPolicy"
	OpGetBucketPolicyStatus = "GetBucketPolicyStatus"

	policyKind = "policy"
)

// policyActions names each operation's policy action and whether its
// resource is the object (bucket/key) rather than the bucket. Operations
// not listed (CreateBucket, DeleteObjects, ListBuckets, ...) are the
// owner's only and no policy applies to them.
var policyActions = map[string]struct {
	action   string
	onObject bool
}{
	OpListObjects: {"ListBucket", false}, OpListObjectsV2: {"ListBucket", false},
	OpHeadBucket: {"ListBucket", false}, OpListObjectVersions: {"ListBucketVersions", false},
	OpGetBucketLocation: {"GetBucketLocation", false}, OpDeleteBucket: {"DeleteBucket", false},
	OpListMultipartUploads: {"ListBucketMultipartUploads", false},
	OpGetBucketVersioning:  {"GetBucketVersioning", false}, OpPutBucketVersioning: {"PutBucketVersioning", false},
	OpGetBucketTagging: {"GetBucketTagging", false}, OpPutBucketTagging: {"PutBucketTagging", false},
	OpDeleteBucketTagging: {"PutBucketTagging", false},
	OpGetBucketCors:       {"GetBucketCORS", false}, OpPutBucketCors: {"PutBucketCORS", false},
	OpDeleteBucketCors: {"PutBucketCORS", false},
	OpGetBucketACL:     {"GetBucketAcl", false}, OpPutBucketACL: {"PutBucketAcl", false},
	OpGetBucketOwnershipControls:    {"GetBucketOwnershipControls", false},
	OpPutBucketOwnershipControls:    {"PutBucketOwnershipControls", false},
	OpDeleteBucketOwnershipControls: {"PutBucketOwnershipControls", false},
	OpGetBucketPolicy:               {"GetBucketPolicy", false}, OpPutBucketPolicy: {"PutBucketPolicy", false},
	OpDeleteBucketPolicy: {"DeleteBucketPolicy", false}, OpGetBucketPolicyStatus: {"GetBucketPolicyStatus", false},
	OpGetBucketWebsite: {"GetBucketWebsite", false}, OpPutBucketWebsite: {"PutBucketWebsite", false},
	OpDeleteBucketWebsite: {"DeleteBucketWebsite", false},

	OpGetObject: {"GetObject", true}, OpHeadObject: {"GetObject", true},
	OpGetObjectAttributes: {"GetObjectAttributes", true},
	OpPutObject:           {"PutObject", true}, OpCopyObject: {"PutObject", true},
	OpCreateMultipartUpload: {"PutObject", true}, OpUploadPart: {"PutObject", true},
	OpUploadPartCopy: {"PutObject", true}, OpCompleteMultipartUpload: {"PutObject", true},
	OpAbortMultipartUpload: {"AbortMultipartUpload", true}, OpListParts: {"ListMultipartUploadParts", true},
	OpDeleteObject:     {"DeleteObject", true},
	OpGetObjectTagging: {"GetObjectTagging", true}, OpPutObjectTagging: {"PutObjectTagging", true},
	OpDeleteObjectTagging: {"DeleteObjectTagging", true},
	OpGetObjectACL:        {"GetObjectAcl", true}, OpPutObjectACL: {"PutObjectAcl", true},
}

// ownerAlwaysAllowed are the operations an explicit Deny cannot take from
// the owner, as AWS lets the root user always manage the bucket policy.
var ownerAlwaysAllowed = map[string]bool{OpGetBucketPolicy: true, OpPutBucketPolicy: true, OpDeleteBucketPolicy: true}

// authorize applies the bucket policy: an anonymous request needs a
// policy that allows Principal "*" its action on its resource (or, failing
// that, a bucket ACL granting AllUsers); an explicit Deny refuses anyone,
// the owner included.
func (h *Handler) authorize(req *request, anonymous bool) error {
	act, ok := policyActions[req.route.Op]
	if !ok || req.route.Bucket == "" {
		if anonymous {
			return newError(ErrAccessDenied, "")
		}
		return nil
	}
	if !anonymous && ownerAlwaysAllowed[req.route.Op] {
		return nil
	}
	p, err := h.cachedPolicy(req)
	switch {
	case err == nil:
	case anonymous:
		return newError(ErrAccessDenied, "")
	case isReason(err, metadatav1.Reason_REASON_NO_SUCH_BUCKET):
		return nil // the operation itself reports the missing bucket
	default:
		return err // never skip a Deny because the policy could not be read
	}
	action := act.action
	if act.onObject && req.route.Query.Get("versionId") != "" && (action == "GetObject" || action == "DeleteObject") {
		action += "Version"
	}
	resource := req.route.Bucket
	if act.onObject {
		resource += "/" + req.route.Key
	}
	switch p.evaluate(policyContext(req, action, resource, !anonymous)) {
	case denied:
		return newError(ErrAccessDenied, "")
	case allowed:
		if anonymous && hasResponseOverrides(req.route.Query) {
			return newError(ErrInvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")
		}
		return nil
	}
	if anonymous {
		return h.authorizeByACL(req, action)
	}
	return nil
}

// aclPermissionFor is the bucket ACL permission that grants each action
// (a bucket ACL speaks for listing, writing objects and the ACL itself;
// reading objects needs object ACLs, which are the owner's only).
var aclPermissionFor = map[string]string{
	"ListBucket": permRead, "ListBucketVersions": permRead, "ListBucketMultipartUploads": permRead,
	"PutObject": permWrite, "DeleteObject": permWrite, "DeleteObjectVersion": permWrite,
	"AbortMultipartUpload": permWrite, "GetBucketAcl": permReadACP, "PutBucketAcl": permWriteACP,
}

// authorizeByACL lets an anonymous request through when the bucket's ACL
// grants AllUsers the permission its action needs.
func (h *Handler) authorizeByACL(req *request, action string) error {
	perm, ok := aclPermissionFor[action]
	if !ok {
		return newError(ErrAccessDenied, "")
	}
	grants, _, err := h.bucketACL(req)
	if err != nil {
		return newError(ErrAccessDenied, "")
	}
	for _, g := range grants {
		if g.Type == granteeGroup && g.URI == groupAllUsers && (g.Permission == perm || g.Permission == permFullControl) {
			return nil
		}
	}
	return newError(ErrAccessDenied, "")
}

// policyContext describes a request to the policy: its action, resource
// and the condition keys it has.
func policyContext(req *request, action, resource string, owner bool) requestContext {
	rc := requestContext{action: action, resource: resource, owner: owner, keys: map[string]string{
		"aws:securetransport": strconv.FormatBool(req.r.TLS != nil),
	}}
	if host, _, err := net.SplitHostPort(req.r.RemoteAddr); err == nil {
		rc.keys["aws:sourceip"] = host
	}
	for key, header := range map[string]string{"aws:useragent": "User-Agent", "aws:referer": "Referer", "s3:x-amz-acl": "X-Amz-Acl"} {
		if v := req.r.Header.Get(header); v != "" {
			rc.keys[key] = v
		}
	}
	for key, param := range map[string]string{"s3:prefix": "prefix", "s3:delimiter": "delimiter", "s3:max-keys": "max-keys", "s3:versionid": "versionId"} {
		if vs, ok := req.route.Query[param]; ok && len(vs) > 0 {
			rc.keys[key] = vs[0]
		}
	}
	return rc
}

// hasResponseOverrides reports response-* query parameters, which AWS
// refuses on anonymous requests.
func hasResponseOverrides(q url.Values) bool {
	for k := range q {
		if strings.HasPrefix(k, "response-") {
			return true
		}
	}
	return false
}

// cachedPolicy returns the bucket's parsed policy (nil: none), from the
// cache when fresh.
func (h *Handler) cachedPolicy(req *request) (*policy, error) {
	now := h.now()
	if p, ok := h.policies.get(req.route.Bucket, now); ok {
		return p, nil
	}
	p, err := h.loadPolicy(req)
	if err != nil {
		return nil, err
	}
	h.policies.put(req.route.Bucket, p, now)
	return p, nil
}

// loadPolicy reads and parses the stored policy; nil when none is set.
func (h *Handler) loadPolicy(req *request) (*policy, error) {
	doc, err := h.getBucketConfig(req, policyKind)
	if err != nil || doc == nil {
		return nil, err
	}
	p, e := parseBucketPolicy(doc, req.route.Bucket, h.owner.ID)
	if e != nil {
		return nil, fmt.Errorf("parse stored bucket policy: %s", e.Message)
	}
	return p, nil
}

func (h *Handler) putBucketPolicy(req *request) error {
	// A missing bucket is NoSuchBucket before its policy is looked at.
	if _, err := h.cachedBucket(req); err != nil {
		return err
	}
	data, err := readConfigBody(req.body)
	if err != nil {
		return err
	}
	if e := checkBodyDigests(req.r.Header, data, req.trailers); e != nil {
		return e
	}
	p, e := parseBucketPolicy(data, req.route.Bucket, h.owner.ID)
	if e != nil {
		return e
	}
	if err := h.putBucketConfig(req, policyKind, data); err != nil {
		return err
	}
	h.policies.put(req.route.Bucket, p, h.now())
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getBucketPolicy(req *request) error {
	doc, err := h.getBucketConfig(req, policyKind)
	if err != nil {
		return err
	}
	if doc == nil {
		return newError(ErrNoSuchBucketPolicy, "")
	}
	hdr := req.w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(doc)))
	req.w.WriteHeader(http.StatusOK)
	_, _ = req.w.Write(doc)
	return nil
}

func (h *Handler) deleteBucketPolicy(req *request) error {
	if err := h.deleteBucketConfig(req, policyKind); err != nil {
		return err
	}
	h.policies.forget(req.route.Bucket)
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

type policyStatus struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ PolicyStatus"`
	IsPublic bool     `xml:"IsPublic"`
}

func (h *Handler) getBucketPolicyStatus(req *request) error {
	p, err := h.loadPolicy(req)
	if err != nil {
		return err
	}
	if p == nil {
		return newError(ErrNoSuchBucketPolicy, "")
	}
	return h.writeXML(req, policyStatus{IsPublic: p.isPublic()})
}
