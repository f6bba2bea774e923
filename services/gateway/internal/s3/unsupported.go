package s3

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
)

// Operations on subresources that Anvil does not configure but answers the
// way S3 answers for a bucket where they are not configured: many tools
// read them and expect a "not configured" error or an empty document
// rather than 501.
const (
	OpGetBucketACL                   = "GetBucketAcl"
	OpPutBucketACL                   = "PutBucketAcl"
	OpGetObjectACL                   = "GetObjectAcl"
	OpPutObjectACL                   = "PutObjectAcl"
	OpGetBucketPolicy                = "GetBucketPolicy"
	OpDeleteBucketPolicy             = "DeleteBucketPolicy"
	OpGetBucketPolicyStatus          = "GetBucketPolicyStatus"
	OpGetBucketLifecycle             = "GetBucketLifecycleConfiguration"
	OpDeleteBucketLifecycle          = "DeleteBucketLifecycle"
	OpGetBucketEncryption            = "GetBucketEncryption"
	OpDeleteBucketEncryption         = "DeleteBucketEncryption"
	OpGetObjectLockConfiguration     = "GetObjectLockConfiguration"
	OpGetBucketWebsite               = "GetBucketWebsite"
	OpDeleteBucketWebsite            = "DeleteBucketWebsite"
	OpGetBucketReplication           = "GetBucketReplication"
	OpDeleteBucketReplication        = "DeleteBucketReplication"
	OpGetPublicAccessBlock           = "GetPublicAccessBlock"
	OpDeletePublicAccessBlock        = "DeletePublicAccessBlock"
	OpGetBucketOwnershipControls     = "GetBucketOwnershipControls"
	OpDeleteBucketOwnershipControls  = "DeleteBucketOwnershipControls"
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
	{http.MethodDelete, "policy", OpDeleteBucketPolicy},
	{http.MethodGet, "policyStatus", OpGetBucketPolicyStatus},
	{http.MethodGet, "lifecycle", OpGetBucketLifecycle},
	{http.MethodDelete, "lifecycle", OpDeleteBucketLifecycle},
	{http.MethodGet, "encryption", OpGetBucketEncryption},
	{http.MethodDelete, "encryption", OpDeleteBucketEncryption},
	{http.MethodGet, "object-lock", OpGetObjectLockConfiguration},
	{http.MethodPut, "object-lock", OpPutObjectLockConfiguration},
	{http.MethodGet, "website", OpGetBucketWebsite},
	{http.MethodDelete, "website", OpDeleteBucketWebsite},
	{http.MethodGet, "replication", OpGetBucketReplication},
	{http.MethodDelete, "replication", OpDeleteBucketReplication},
	{http.MethodGet, "publicAccessBlock", OpGetPublicAccessBlock},
	{http.MethodDelete, "publicAccessBlock", OpDeletePublicAccessBlock},
	{http.MethodGet, "ownershipControls", OpGetBucketOwnershipControls},
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

	OpGetObjectLockConfiguration: (*Handler).getObjectLockConfiguration,
	OpPutObjectLockConfiguration: (*Handler).putObjectLockConfiguration,
	OpGetObjectRetention:         (*Handler).getObjectRetention,
	OpPutObjectRetention:         (*Handler).putObjectRetention,
	OpGetObjectLegalHold:         (*Handler).getObjectLegalHold,
	OpPutObjectLegalHold:         (*Handler).putObjectLegalHold,

	OpGetBucketPolicy:            notConfigured(newError(ErrNoSuchBucketPolicy, "")),
	OpGetBucketPolicyStatus:      notConfigured(newError(ErrNoSuchBucketPolicy, "")),
	OpGetBucketLifecycle:         notConfigured(newError(ErrNoSuchLifecycleConfiguration, "")),
	OpGetBucketEncryption:        notConfigured(newError(ErrServerSideEncryptionConfigurationNotFoundError, "")),
	OpGetBucketWebsite:           notConfigured(newError(ErrNoSuchWebsiteConfiguration, "")),
	OpGetBucketReplication:       notConfigured(newError(ErrReplicationConfigurationNotFoundError, "")),
	OpGetPublicAccessBlock:       notConfigured(newError(ErrNoSuchPublicAccessBlockConfiguration, "")),
	OpGetBucketOwnershipControls: notConfigured(newError(ErrOwnershipControlsNotFoundError, "")),

	OpDeleteBucketPolicy:            nothingToDelete,
	OpDeleteBucketLifecycle:         nothingToDelete,
	OpDeleteBucketEncryption:        nothingToDelete,
	OpDeleteBucketWebsite:           nothingToDelete,
	OpDeleteBucketReplication:       nothingToDelete,
	OpDeletePublicAccessBlock:       nothingToDelete,
	OpDeleteBucketOwnershipControls: nothingToDelete,

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

// ACLs: every bucket and object belongs to its owner with FULL_CONTROL and
// nothing else; that is what GET ?acl shows and the only ACL PUT accepts.

const (
	xsiNS          = "http://www.w3.org/2001/XMLSchema-instance"
	permFullCtrl   = "FULL_CONTROL"
	granteeCanonic = "CanonicalUser"
)

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type accessControlPolicy struct {
	XMLName           xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner             owner    `xml:"Owner"`
	AccessControlList struct {
		Grant []grant `xml:"Grant"`
	} `xml:"AccessControlList"`
}

// accessControlPolicyIn is a PUT ?acl body as parsed.
type accessControlPolicyIn struct {
	XMLName           xml.Name
	AccessControlList struct {
		Grant []struct {
			Grantee struct {
				Type string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
				ID   string `xml:"ID"`
				URI  string `xml:"URI"`
				Mail string `xml:"EmailAddress"`
			} `xml:"Grantee"`
			Permission string `xml:"Permission"`
		} `xml:"Grant"`
	} `xml:"AccessControlList"`
}

func (h *Handler) ownerACL() accessControlPolicy {
	out := accessControlPolicy{Owner: h.owner}
	out.AccessControlList.Grant = []grant{{
		Grantee:    grantee{XMLNSXSI: xsiNS, Type: granteeCanonic, ID: h.owner.ID, DisplayName: h.owner.DisplayName},
		Permission: permFullCtrl,
	}}
	return out
}

// checkPrivateACL accepts an ACL request only when it asks for what every
// resource has: the owner's FULL_CONTROL.
func (h *Handler) checkPrivateACL(req *request) error {
	notImpl := newError(ErrNotImplemented, "Only the private ACL (owner FULL_CONTROL) is supported.")
	for name := range req.r.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-grant-") {
			return notImpl
		}
	}
	if acl := req.r.Header.Get("x-amz-acl"); acl != "" && acl != "private" {
		return notImpl
	}
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	if bytesTrimmedEmpty(data) {
		return nil
	}
	var in accessControlPolicyIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "AccessControlPolicy" {
		return newError(ErrMalformedXML, "")
	}
	for _, g := range in.AccessControlList.Grant {
		if g.Permission != permFullCtrl || g.Grantee.ID != h.owner.ID || g.Grantee.URI != "" || g.Grantee.Mail != "" {
			return notImpl
		}
	}
	return nil
}

func (h *Handler) getBucketACL(req *request) error {
	if _, err := h.bucket(req); err != nil {
		return err
	}
	return h.writeXML(req, h.ownerACL())
}

func (h *Handler) putBucketACL(req *request) error {
	if _, err := h.bucket(req); err != nil {
		return err
	}
	if err := h.checkPrivateACL(req); err != nil {
		return err
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getObjectACL(req *request) error {
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	v, err := h.getVersion(req, b)
	if err != nil {
		return err
	}
	setVersionID(req.w.Header(), b, v.GetVersionId())
	return h.writeXML(req, h.ownerACL())
}

func (h *Handler) putObjectACL(req *request) error {
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	v, err := h.getVersion(req, b)
	if err != nil {
		return err
	}
	if err := h.checkPrivateACL(req); err != nil {
		return err
	}
	setVersionID(req.w.Header(), b, v.GetVersionId())
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}
