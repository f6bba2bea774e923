package s3

import (
	"encoding/xml"
	"net/http"
	"net/url"
)

// Operations on subresources that Anvil does not configure but answers the
// way S3 answers for a bucket where they are not configured: many tools
// read them and expect a "not configured" error or an empty document
// rather than 501.
const (
	OpGetBucketLifecycle             = "GetBucketLifecycleConfiguration"
	OpDeleteBucketLifecycle          = "DeleteBucketLifecycle"
	OpGetBucketEncryption            = "GetBucketEncryption"
	OpDeleteBucketEncryption         = "DeleteBucketEncryption"
	OpGetObjectLockConfiguration     = "GetObjectLockConfiguration"
	OpGetBucketReplication           = "GetBucketReplication"
	OpDeleteBucketReplication        = "DeleteBucketReplication"
	OpGetPublicAccessBlock           = "GetPublicAccessBlock"
	OpDeletePublicAccessBlock        = "DeletePublicAccessBlock"
	OpGetBucketLogging               = "GetBucketLogging"
	OpGetBucketNotification          = "GetBucketNotificationConfiguration"
	OpGetBucketAccelerate            = "GetBucketAccelerateConfiguration"
	OpGetBucketRequestPayment        = "GetBucketRequestPayment"
	OpGetObjectRetention             = "GetObjectRetention"
	OpGetObjectLegalHold             = "GetObjectLegalHold"
	OpPutObjectRetention             = "PutObjectRetention"
	OpPutObjectLegalHold             = "PutObjectLegalHold"
	OpGetBucketIntelligentTieringCfg = "ListBucketIntelligentTieringConfigurations"
)

// featureRoute maps a method and subresource to an operation.
type featureRoute struct {
	method, sub, op string
}

// bucketFeatureRoutes are the bucket subresources answered here; the first
// match wins. An empty sub matches a request with no subresource at all.
var bucketFeatureRoutes = []featureRoute{
	{http.MethodGet, "versioning", OpGetBucketVersioning},
	{http.MethodPut, "versioning", OpPutBucketVersioning},
	{http.MethodGet, "versions", OpListObjectVersions},
	{http.MethodGet, "tagging", OpGetBucketTagging},
	{http.MethodPut, "tagging", OpPutBucketTagging},
	{http.MethodDelete, "tagging", OpDeleteBucketTagging},
	{http.MethodGet, "cors", OpGetBucketCors},
	{http.MethodPut, "cors", OpPutBucketCors},
	{http.MethodDelete, "cors", OpDeleteBucketCors},
	{http.MethodPost, "delete", OpDeleteObjects},
	{http.MethodGet, "acl", OpGetBucketACL},
	{http.MethodPut, "acl", OpPutBucketACL},
	{http.MethodGet, "policy", OpGetBucketPolicy},
	{http.MethodPut, "policy", OpPutBucketPolicy},
	{http.MethodDelete, "policy", OpDeleteBucketPolicy},
	{http.MethodGet, "policyStatus", OpGetBucketPolicyStatus},
	{http.MethodGet, "lifecycle", OpGetBucketLifecycle},
	{http.MethodDelete, "lifecycle", OpDeleteBucketLifecycle},
	{http.MethodGet, "encryption", OpGetBucketEncryption},
	{http.MethodDelete, "encryption", OpDeleteBucketEncryption},
	{http.MethodGet, "object-lock", OpGetObjectLockConfiguration},
	{http.MethodPut, "object-lock", OpPutObjectLockConfiguration},
	{http.MethodGet, "website", OpGetBucketWebsite},
	{http.MethodPut, "website", OpPutBucketWebsite},
	{http.MethodDelete, "website", OpDeleteBucketWebsite},
	{http.MethodGet, "replication", OpGetBucketReplication},
	{http.MethodDelete, "replication", OpDeleteBucketReplication},
	{http.MethodGet, "publicAccessBlock", OpGetPublicAccessBlock},
	{http.MethodDelete, "publicAccessBlock", OpDeletePublicAccessBlock},
	{http.MethodGet, "ownershipControls", OpGetBucketOwnershipControls},
	{http.MethodPut, "ownershipControls", OpPutBucketOwnershipControls},
	{http.MethodDelete, "ownershipControls", OpDeleteBucketOwnershipControls},
	{http.MethodGet, "logging", OpGetBucketLogging},
	{http.MethodGet, "notification", OpGetBucketNotification},
	{http.MethodGet, "accelerate", OpGetBucketAccelerate},
	{http.MethodGet, "requestPayment", OpGetBucketRequestPayment},
	{http.MethodGet, "intelligent-tiering", OpGetBucketIntelligentTieringCfg},
	{http.MethodPost, "", OpPostObject},
}

// objectFeatureRoutes are the object subresources answered here.
var objectFeatureRoutes = []featureRoute{
	{http.MethodGet, "tagging", OpGetObjectTagging},
	{http.MethodPut, "tagging", OpPutObjectTagging},
	{http.MethodDelete, "tagging", OpDeleteObjectTagging},
	{http.MethodGet, "acl", OpGetObjectACL},
	{http.MethodPut, "acl", OpPutObjectACL},
	{http.MethodGet, "retention", OpGetObjectRetention},
	{http.MethodPut, "retention", OpPutObjectRetention},
	{http.MethodGet, "legal-hold", OpGetObjectLegalHold},
	{http.MethodPut, "legal-hold", OpPutObjectLegalHold},
}

func matchFeature(routes []featureRoute, method string, q url.Values) string {
	for _, fr := range routes {
		if fr.method != method {
			continue
		}
		if fr.sub == "" {
			if _, sub := hasSubresource(q); !sub {
				return fr.op
			}
			continue
		}
		if _, ok := q[fr.sub]; ok {
			return fr.op
		}
	}
	return ""
}

// bucketFeatureOp returns the operation of a bucket request handled in this
// file's feature set, or "". OPTIONS is always a CORS preflight.
func bucketFeatureOp(method string, q url.Values) string {
	if method == http.MethodOptions {
		return OpPreflight
	}
	return matchFeature(bucketFeatureRoutes, method, q)
}

// objectFeatureOp is bucketFeatureOp for object requests.
func objectFeatureOp(method string, q url.Values) string {
	if method == http.MethodOptions {
		return OpPreflight
	}
	return matchFeature(objectFeatureRoutes, method, q)
}

// featureHandlers runs the operations of bucketFeatureRoutes and
// objectFeatureRoutes (OpPreflight runs before authentication).
var featureHandlers = map[string]func(*Handler, *request) error{
	OpGetBucketVersioning: (*Handler).getBucketVersioning,
	OpPutBucketVersioning: (*Handler).putBucketVersioning,
	OpListObjectVersions:  (*Handler).listObjectVersions,
	OpGetObjectTagging:    (*Handler).getObjectTagging,
	OpPutObjectTagging:    (*Handler).putObjectTagging,
	OpDeleteObjectTagging: (*Handler).deleteObjectTagging,
	OpGetBucketTagging:    (*Handler).getBucketTagging,
	OpPutBucketTagging:    (*Handler).putBucketTagging,
	OpDeleteBucketTagging: (*Handler).deleteBucketTagging,
	OpGetBucketCors:       (*Handler).getBucketCors,
	OpPutBucketCors:       (*Handler).putBucketCors,
	OpDeleteBucketCors:    (*Handler).deleteBucketCors,
	OpDeleteObjects:       (*Handler).deleteObjects,
	OpPostObject:          (*Handler).postObject,
	OpGetBucketACL:        (*Handler).getBucketACL,
	OpPutBucketACL:        (*Handler).putBucketACL,
	OpGetObjectACL:        (*Handler).getObjectACL,
	OpPutObjectACL:        (*Handler).putObjectACL,

	OpGetBucketOwnershipControls:    (*Handler).getBucketOwnershipControls,
	OpPutBucketOwnershipControls:    (*Handler).putBucketOwnershipControls,
	OpDeleteBucketOwnershipControls: (*Handler).deleteBucketOwnershipControls,

	OpGetBucketPolicy:       (*Handler).getBucketPolicy,
	OpPutBucketPolicy:       (*Handler).putBucketPolicy,
	OpDeleteBucketPolicy:    (*Handler).deleteBucketPolicy,
	OpGetBucketPolicyStatus: (*Handler).getBucketPolicyStatus,

	OpGetBucketWebsite:    (*Handler).getBucketWebsite,
	OpPutBucketWebsite:    (*Handler).putBucketWebsite,
	OpDeleteBucketWebsite: (*Handler).deleteBucketWebsite,

	OpGetObjectLockConfiguration: (*Handler).getObjectLockConfiguration,
	OpPutObjectLockConfiguration: (*Handler).putObjectLockConfiguration,
	OpGetObjectRetention:         (*Handler).getObjectRetention,
	OpPutObjectRetention:         (*Handler).putObjectRetention,
	OpGetObjectLegalHold:         (*Handler).getObjectLegalHold,
	OpPutObjectLegalHold:         (*Handler).putObjectLegalHold,

	OpGetBucketLifecycle:   notConfigured(newError(ErrNoSuchLifecycleConfiguration, "")),
	OpGetBucketEncryption:  notConfigured(newError(ErrServerSideEncryptionConfigurationNotFoundError, "")),
	OpGetBucketReplication: notConfigured(newError(ErrReplicationConfigurationNotFoundError, "")),
	OpGetPublicAccessBlock: notConfigured(newError(ErrNoSuchPublicAccessBlockConfiguration, "")),

	OpDeleteBucketLifecycle:   nothingToDelete,
	OpDeleteBucketEncryption:  nothingToDelete,
	OpDeleteBucketReplication: nothingToDelete,
	OpDeletePublicAccessBlock: nothingToDelete,

	OpGetBucketLogging:               emptyDocument(bucketLoggingStatus{}),
	OpGetBucketNotification:          emptyDocument(notificationConfiguration{}),
	OpGetBucketAccelerate:            emptyDocument(accelerateConfiguration{}),
	OpGetBucketRequestPayment:        emptyDocument(requestPaymentConfiguration{Payer: "BucketOwner"}),
	OpGetBucketIntelligentTieringCfg: emptyDocument(listIntelligentTieringResult{}),
}

// notConfigured answers, for an existing bucket, the error S3 gives when
// the subresource was never configured.
func notConfigured(e *Error) func(*Handler, *request) error {
	return func(h *Handler, req *request) error {
		if _, err := h.bucket(req); err != nil {
			return err
		}
		return e
	}
}

// nothingToDelete answers deleting an unconfigured subresource: like S3,
// deleting what is not there succeeds.
func nothingToDelete(h *Handler, req *request) error {
	if _, err := h.bucket(req); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// emptyDocument answers with doc for an existing bucket.
func emptyDocument(doc any) func(*Handler, *request) error {
	return func(h *Handler, req *request) error {
		if _, err := h.bucket(req); err != nil {
			return err
		}
		return h.writeXML(req, doc)
	}
}

type bucketLoggingStatus struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ BucketLoggingStatus"`
}

type notificationConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ NotificationConfiguration"`
}

type accelerateConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccelerateConfiguration"`
}

type requestPaymentConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ RequestPaymentConfiguration"`
	Payer   string   `xml:"Payer"`
}

type listIntelligentTieringResult struct {
	XMLName     xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketIntelligentTieringConfigurationsOutput"`
	IsTruncated bool     `xml:"IsTruncated"`
}
