package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// S3 Object Lock. A bucket's configuration is the bucket config document
// "object-lock" (its existence is what makes a bucket locked; the metadata
// service then keeps versioning enabled). Each version carries its own
// retention and legal hold; the metadata service enforces them when a
// version would be removed or its retention changed.

// OpPutObjectLockConfiguration sets a bucket's object lock configuration.
const OpPutObjectLockConfiguration = "PutObjectLockConfiguration"

const (
	objectLockKind      = "object-lock"
	lockModeHdr         = "x-amz-object-lock-mode"
	lockRetainUntilHdr  = "x-amz-object-lock-retain-until-date"
	lockLegalHoldHdr    = "x-amz-object-lock-legal-hold"
	bypassGovernanceHdr = "x-amz-bypass-governance-retention"
	lockGovernance      = "GOVERNANCE"
	lockCompliance      = "COMPLIANCE"
	legalHoldOn         = "ON"
	legalHoldOff        = "OFF"
	// The longest default retention AWS accepts.
	maxRetentionDays  = 36500
	maxRetentionYears = 100
	// lockDateFormat is how retain-until dates are shown (ISO 8601, UTC).
	lockDateFormat = "2006-01-02T15:04:05.000Z"
)

// Errors with AWS's wording.
var (
	errNoLockConfig       = newError(ErrInvalidRequest, "Bucket is missing Object Lock Configuration")
	errNoLockConfigHeader = newError(ErrInvalidRequest, "Bucket is missing ObjectLockConfiguration")
)

// lockArgError is an InvalidArgument naming the lock header (or setting)
// and the value it refuses.
func lockArgError(msg, name, value string) *Error {
	return newError(ErrInvalidArgument, msg).With("ArgumentName", name).With("ArgumentValue", value)
}

func pastRetainDate(value string) *Error {
	return lockArgError("The retain until date must be in the future!", lockRetainUntilHdr, value)
}

type objectLockConfiguration struct {
	XMLName           xml.Name
	ObjectLockEnabled string          `xml:"ObjectLockEnabled,omitempty"`
	Rule              *objectLockRule `xml:"Rule,omitempty"`
}

type objectLockRule struct {
	DefaultRetention *defaultRetention `xml:"DefaultRetention"`
}

type defaultRetention struct {
	Mode  string `xml:"Mode,omitempty"`
	Days  *int32 `xml:"Days,omitempty"`
	Years *int32 `xml:"Years,omitempty"`
}

type objectRetention struct {
	XMLName         xml.Name
	Mode            string `xml:"Mode,omitempty"`
	RetainUntilDate string `xml:"RetainUntilDate,omitempty"`
}

type objectLegalHold struct {
	XMLName xml.Name
	Status  string `xml:"Status"`
}

func validLockMode(m string) bool { return m == lockGovernance || m == lockCompliance }

// parseObjectLockConfiguration validates a PutObjectLockConfiguration body.
func parseObjectLockConfiguration(data []byte) (*objectLockConfiguration, *Error) {
	if bytesTrimmedEmpty(data) {
		return nil, newError(ErrMissingRequestBodyError, "")
	}
	var c objectLockConfiguration
	if err := xml.Unmarshal(data, &c); err != nil || c.XMLName.Local != "ObjectLockConfiguration" || c.ObjectLockEnabled != "Enabled" {
		return nil, newError(ErrMalformedXML, "")
	}
	if c.Rule == nil {
		return &c, nil
	}
	d := c.Rule.DefaultRetention
	if d == nil || !validLockMode(d.Mode) || (d.Days == nil) == (d.Years == nil) {
		return nil, newError(ErrMalformedXML, "")
	}
	for _, p := range []struct {
		name string
		n    *int32
		max  int32
	}{{"Days", d.Days, maxRetentionDays}, {"Years", d.Years, maxRetentionYears}} {
		switch {
		case p.n == nil:
		case *p.n <= 0:
			return nil, lockArgError("Default retention period must be a positive integer value.", p.name, strconv.Itoa(int(*p.n)))
		case *p.n > p.max:
			return nil, lockArgError("Default retention period too large.", p.name, strconv.Itoa(int(*p.n)))
		}
	}
	return &c, nil
}

// objectLock returns the bucket's object lock configuration, nil when it
// has none.
func (h *Handler) objectLock(req *request) (*objectLockConfiguration, error) {
	doc, err := h.getBucketConfig(req, objectLockKind)
	if err != nil || doc == nil {
		return nil, err
	}
	var c objectLockConfiguration
	if err := xml.Unmarshal(doc, &c); err != nil {
		return nil, fmt.Errorf("stored object lock configuration: %w", err)
	}
	return &c, nil
}

func (h *Handler) putObjectLockConfig(req *request, c *objectLockConfiguration) error {
	c.XMLName = xml.Name{Space: s3NS, Local: "ObjectLockConfiguration"}
	doc, err := xml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode object lock configuration: %w", err)
	}
	return h.putBucketConfig(req, objectLockKind, doc)
}

func (h *Handler) getObjectLockConfiguration(req *request) error {
	c, err := h.objectLock(req)
	if err != nil {
		return err
	}
	if c == nil {
		return newError(ErrObjectLockConfigurationNotFoundError, "")
	}
	c.XMLName = xml.Name{Space: s3NS, Local: "ObjectLockConfiguration"}
	return h.writeXML(req, c)
}

func (h *Handler) putObjectLockConfiguration(req *request) error {
	if !hasBodyDigest(req.r.Header) {
		return newError(ErrInvalidRequest, "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	c, e := parseObjectLockConfiguration(data)
	if e != nil {
		return e
	}
	b, err := h.bucket(req)
	if err != nil {
		return err
	}
	// AWS turns object lock on for an existing bucket only while its
	// versioning is enabled; from then on versioning cannot be suspended.
	if !b.GetObjectLockEnabled() && b.GetVersioning() != metadatav1.Versioning_VERSIONING_ENABLED {
		return newError(ErrInvalidBucketState, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
	}
	if err := h.putObjectLockConfig(req, c); err != nil {
		return err
	}
	h.buckets.forget(req.route.Bucket)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// enableObjectLock makes a bucket just created with
// x-amz-bucket-object-lock-enabled a locked bucket: versioning enabled,
// then an object lock configuration without a default retention.
func (h *Handler) enableObjectLock(req *request) error {
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	if _, err := h.meta.SetBucketVersioning(ctx, &metadatav1.SetBucketVersioningRequest{
		Bucket: req.route.Bucket, Versioning: metadatav1.Versioning_VERSIONING_ENABLED,
	}); err != nil {
		return fmt.Errorf("enable versioning for object lock: %w", err)
	}
	return h.putObjectLockConfig(req, &objectLockConfiguration{ObjectLockEnabled: "Enabled"})
}

// parseRetainUntil reads an ISO 8601 date as S3 clients send it.
func parseRetainUntil(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// lockFromHeaders applies a write's object lock headers to v (PutObject,
// CopyObject), or else the bucket's default retention. Lock headers on a
// bucket without object lock are refused.
func (h *Handler) lockFromHeaders(req *request, b *metadatav1.Bucket, v *metadatav1.ObjectVersion) error {
	if err := h.lockHeaders(req, b, v); err != nil {
		return err
	}
	return h.applyDefaultRetention(req, b, v)
}

// lockHeaders applies a write's object lock headers to v, without the
// bucket's default retention: CreateMultipartUpload's object is made on
// Complete, which applies the default then.
func (h *Handler) lockHeaders(req *request, b *metadatav1.Bucket, v *metadatav1.ObjectVersion) error {
	hdr := req.r.Header
	mode, until, hold := hdr.Get(lockModeHdr), hdr.Get(lockRetainUntilHdr), hdr.Get(lockLegalHoldHdr)
	if mode != "" || until != "" {
		switch {
		case until == "":
			return lockArgError("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied.", lockRetainUntilHdr, "")
		case mode == "":
			return lockArgError("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied.", lockModeHdr, "")
		case !validLockMode(mode):
			return lockArgError("Unknown wormMode directive.", lockModeHdr, mode)
		}
		t, ok := parseRetainUntil(until)
		if !ok {
			return lockArgError("The retain until date must be provided in ISO 8601 format", lockRetainUntilHdr, until)
		}
		if !t.After(h.now()) {
			return pastRetainDate(until)
		}
		v.LockMode, v.LockRetainUntil = mode, timestamppb.New(t)
	}
	switch hold {
	case "":
	case legalHoldOff:
		v.LegalHoldSet = true
	case legalHoldOn:
		v.LegalHold, v.LegalHoldSet = true, true
	default:
		return lockArgError("Legal Hold must be either of 'ON' or 'OFF'", lockLegalHoldHdr, hold)
	}
	if !b.GetObjectLockEnabled() && (mode != "" || hold != "") {
		return errNoLockConfigHeader
	}
	return nil
}

// applyDefaultRetention gives v the bucket's default retention when v has
// no retention of its own.
func (h *Handler) applyDefaultRetention(req *request, b *metadatav1.Bucket, v *metadatav1.ObjectVersion) error {
	if v.LockMode != "" {
		return nil
	}
	mode, until, err := h.defaultRetention(req, b)
	if err != nil || mode == "" {
		return err
	}
	v.LockMode, v.LockRetainUntil = mode, until
	return nil
}

// defaultRetention returns the retention the bucket's object lock
// configuration gives an object created now; "" when it gives none.
func (h *Handler) defaultRetention(req *request, b *metadatav1.Bucket) (string, *timestamppb.Timestamp, error) {
	if !b.GetObjectLockEnabled() {
		return "", nil, nil
	}
	c, err := h.objectLock(req)
	if err != nil || c == nil || c.Rule == nil || c.Rule.DefaultRetention == nil {
		return "", nil, err
	}
	d := c.Rule.DefaultRetention
	now := h.now()
	t := now
	if d.Days != nil {
		t = now.AddDate(0, 0, int(*d.Days))
	} else if d.Years != nil {
		t = now.AddDate(int(*d.Years), 0, 0)
	}
	return d.Mode, timestamppb.New(t), nil
}

// objectLockHeaders sets the lock headers GET and HEAD send for v.
func objectLockHeaders(hdr http.Header, v *metadatav1.ObjectVersion) {
	if v.GetLockMode() != "" {
		hdr.Set(lockModeHdr, v.GetLockMode())
		hdr.Set(lockRetainUntilHdr, v.GetLockRetainUntil().AsTime().UTC().Format(lockDateFormat))
	}
	if v.GetLegalHoldSet() || v.GetLegalHold() {
		hdr.Set(lockLegalHoldHdr, legalHoldStatus(v))
	}
}

func legalHoldStatus(v *metadatav1.ObjectVersion) string {
	if v.GetLegalHold() {
		return legalHoldOn
	}
	return legalHoldOff
}

// bypassGovernance reports whether a request asks to bypass GOVERNANCE
// retention.
func bypassGovernance(hdr http.Header) bool {
	ok, _ := strconv.ParseBool(strings.TrimSpace(hdr.Get(bypassGovernanceHdr)))
	return ok
}

// lockedBucket returns the addressed bucket for the retention and legal
// hold operations, which need object lock, and the version id to look up.
func (h *Handler) lockedBucket(req *request) (*metadatav1.Bucket, string, error) {
	shown := req.route.Query.Get("versionId")
	if e := checkVersionID(shown); e != nil {
		return nil, "", e
	}
	b, err := h.bucket(req)
	if err != nil {
		return nil, "", err
	}
	if !b.GetObjectLockEnabled() {
		return nil, "", errNoLockConfig
	}
	return b, lookupVersionID(b, shown), nil
}

// lockedVersion reads the addressed version for GetObjectRetention and
// GetObjectLegalHold. A missing key is NoSuchKey whether or not the bucket
// has object lock; a present one in a bucket without it is InvalidRequest.
func (h *Handler) lockedVersion(req *request) (*metadatav1.Bucket, *metadatav1.ObjectVersion, error) {
	b, err := h.bucket(req)
	if err != nil {
		return nil, nil, err
	}
	v, err := h.getVersion(req, b)
	if err != nil {
		return nil, nil, err
	}
	if !b.GetObjectLockEnabled() {
		return nil, nil, errNoLockConfig
	}
	return b, v, nil
}

// readLockBody reads a retention or legal hold body, which AWS requires to
// come with Content-MD5 or a checksum.
func readLockBody(req *request) ([]byte, error) {
	if !hasBodyDigest(req.r.Header) {
		return nil, newError(ErrInvalidRequest, "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	return readXMLBody(req)
}

func (h *Handler) getObjectRetention(req *request) error {
	b, v, err := h.lockedVersion(req)
	if err != nil {
		return err
	}
	if v.GetLockMode() == "" {
		return newError(ErrNoSuchObjectLockConfiguration, "")
	}
	setVersionID(req.w.Header(), b, v.GetVersionId())
	return h.writeXML(req, objectRetention{
		XMLName:         xml.Name{Space: s3NS, Local: "Retention"},
		Mode:            v.GetLockMode(),
		RetainUntilDate: v.GetLockRetainUntil().AsTime().UTC().Format(lockDateFormat),
	})
}

func (h *Handler) putObjectRetention(req *request) error {
	// NoSuchBucket comes before anything about the body.
	if _, err := h.cachedBucket(req); err != nil {
		return err
	}
	data, err := readLockBody(req)
	if err != nil {
		return err
	}
	var in objectRetention
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "Retention" {
		return newError(ErrMalformedXML, "")
	}
	var until *timestamppb.Timestamp
	switch {
	case in.Mode == "" && in.RetainUntilDate == "":
		// An empty retention removes it (GOVERNANCE with bypass only).
	case !validLockMode(in.Mode) || in.RetainUntilDate == "":
		return newError(ErrMalformedXML, "")
	default:
		t, ok := parseRetainUntil(in.RetainUntilDate)
		if !ok {
			return newError(ErrMalformedXML, "")
		}
		if !t.After(h.now()) {
			return pastRetainDate(in.RetainUntilDate)
		}
		until = timestamppb.New(t)
	}
	b, versionID, err := h.lockedBucket(req)
	if err != nil {
		return err
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.PutObjectRetention(ctx, &metadatav1.PutObjectRetentionRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, VersionId: versionID,
		Mode: in.Mode, RetainUntil: until, BypassGovernanceRetention: bypassGovernance(req.r.Header),
	})
	if err != nil {
		return versionUpdateError(req, b, "put object retention", err)
	}
	setVersionID(req.w.Header(), b, resp.GetVersionId())
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getObjectLegalHold(req *request) error {
	b, v, err := h.lockedVersion(req)
	if err != nil {
		return err
	}
	// A released hold reads as OFF; a version never held has none.
	if !v.GetLegalHoldSet() && !v.GetLegalHold() {
		return newError(ErrNoSuchObjectLockConfiguration, "")
	}
	setVersionID(req.w.Header(), b, v.GetVersionId())
	return h.writeXML(req, objectLegalHold{XMLName: xml.Name{Space: s3NS, Local: "LegalHold"}, Status: legalHoldStatus(v)})
}

func (h *Handler) putObjectLegalHold(req *request) error {
	// NoSuchBucket comes before anything about the body.
	if _, err := h.cachedBucket(req); err != nil {
		return err
	}
	data, err := readLockBody(req)
	if err != nil {
		return err
	}
	var in objectLegalHold
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "LegalHold" ||
		(in.Status != legalHoldOn && in.Status != legalHoldOff) {
		return newError(ErrMalformedXML, "")
	}
	b, versionID, err := h.lockedBucket(req)
	if err != nil {
		return err
	}
	ctx, cancel := h.metaCtx(req)
	defer cancel()
	resp, err := h.meta.PutObjectLegalHold(ctx, &metadatav1.PutObjectLegalHoldRequest{
		Bucket: req.route.Bucket, Key: req.route.Key, VersionId: versionID,
		On: in.Status == legalHoldOn,
	})
	if err != nil {
		return versionUpdateError(req, b, "put object legal hold", err)
	}
	setVersionID(req.w.Header(), b, resp.GetVersionId())
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}
