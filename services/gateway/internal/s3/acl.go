package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// ACLs. A bucket's ACL is stored as a bucket config document; with
// BucketOwnerEnforced ownership ACLs are disabled: reads show the owner's
// FULL_CONTROL and writes may only ask for that. Objects have no ACL of
// their own (their owner's FULL_CONTROL): an object ACL other than that is
// 501 on a bucket with ACLs enabled.

// ACL operations.
const (
	OpGetBucketACL = "GetBucketAcl"
	OpPutBucketACL = "PutBucketAcl"
	OpGetObjectACL = "GetObjectAcl"
	OpPutObjectACL = "PutObjectAcl"
)

const (
	aclKind = "acl"

	xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

	permFullControl = "FULL_CONTROL"
	permRead        = "READ"
	permWrite       = "WRITE"
	permReadACP     = "READ_ACP"
	permWriteACP    = "WRITE_ACP"

	granteeCanonical = "CanonicalUser"
	granteeEmail     = "AmazonCustomerByEmail"
	granteeGroup     = "Group"

	groupAllUsers      = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	groupLogDelivery   = "http://acs.amazonaws.com/groups/s3/LogDelivery"
)

var aclPermissions = map[string]bool{permFullControl: true, permRead: true, permWrite: true, permReadACP: true, permWriteACP: true}

// groupIDs names each group. AWS sends a Group grantee with its URI only;
// the name rides along as its ID because some clients (versitygw's tests)
// read every grantee's ID without checking for nil.
var groupIDs = map[string]string{
	groupAllUsers:      "all-users",
	groupAuthenticated: "authenticated-users",
	groupLogDelivery:   "log-delivery",
}

// aclGrant is one grant, as stored and as parsed.
type aclGrant struct {
	Type, ID, URI, Email, Permission string
}

// grantHeaders maps the x-amz-grant-* headers to their permissions.
var grantHeaders = []struct{ header, perm string }{
	{"X-Amz-Grant-Full-Control", permFullControl},
	{"X-Amz-Grant-Read", permRead},
	{"X-Amz-Grant-Write", permWrite},
	{"X-Amz-Grant-Read-Acp", permReadACP},
	{"X-Amz-Grant-Write-Acp", permWriteACP},
}

// cannedGrants are the grants each canned ACL adds to the owner's
// FULL_CONTROL. With a single tenant the bucket-owner-* ACLs add nothing.
var cannedGrants = map[string][]aclGrant{
	"private":                   nil,
	"bucket-owner-full-control": nil,
	"bucket-owner-read":         nil,
	"aws-exec-read":             nil,
	"public-read":               {{Type: granteeGroup, URI: groupAllUsers, Permission: permRead}},
	"public-read-write": {{Type: granteeGroup, URI: groupAllUsers, Permission: permRead},
		{Type: granteeGroup, URI: groupAllUsers, Permission: permWrite}},
	"authenticated-read": {{Type: granteeGroup, URI: groupAuthenticated, Permission: permRead}},
	"log-delivery-write": {{Type: granteeGroup, URI: groupLogDelivery, Permission: permWrite},
		{Type: granteeGroup, URI: groupLogDelivery, Permission: permReadACP}},
}

type granteeOut struct {
	XMLNSXSI     string `xml:"xmlns:xsi,attr"`
	Type         string `xml:"xsi:type,attr"`
	ID           string `xml:"ID,omitempty"`
	DisplayName  string `xml:"DisplayName,omitempty"`
	EmailAddress string `xml:"EmailAddress,omitempty"`
	URI          string `xml:"URI,omitempty"`
}

type grantOut struct {
	Grantee    granteeOut `xml:"Grantee"`
	Permission string     `xml:"Permission"`
}

type accessControlPolicy struct {
	XMLName           xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner             owner    `xml:"Owner"`
	AccessControlList struct {
		Grant []grantOut `xml:"Grant"`
	} `xml:"AccessControlList"`
}

// accessControlPolicyIn is a PUT ?acl body (or a stored ACL) as parsed.
type accessControlPolicyIn struct {
	XMLName xml.Name
	Owner   *struct {
		ID string `xml:"ID"`
	} `xml:"Owner"`
	AccessControlList struct {
		Grant []struct {
			Grantee *struct {
				Type  string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
				ID    string `xml:"ID"`
				URI   string `xml:"URI"`
				Email string `xml:"EmailAddress"`
			} `xml:"Grantee"`
			Permission string `xml:"Permission"`
		} `xml:"Grant"`
	} `xml:"AccessControlList"`
}

func (h *Handler) ownerGrant() aclGrant {
	return aclGrant{Type: granteeCanonical, ID: h.owner.ID, Permission: permFullControl}
}

// aclDocument renders grants as GET ?acl answers them.
func (h *Handler) aclDocument(grants []aclGrant) accessControlPolicy {
	out := accessControlPolicy{Owner: h.owner}
	for _, g := range grants {
		ge := granteeOut{XMLNSXSI: xsiNS, Type: g.Type, ID: g.ID, EmailAddress: g.Email, URI: g.URI}
		switch g.Type {
		case granteeCanonical:
			if g.ID == h.owner.ID {
				ge.DisplayName = h.owner.DisplayName
			}
		case granteeGroup:
			ge.ID = groupIDs[g.URI]
		}
		out.AccessControlList.Grant = append(out.AccessControlList.Grant, grantOut{Grantee: ge, Permission: g.Permission})
	}
	return out
}

// aclRequest is what a PUT ?acl (or a CreateBucket/PutObject) asks for:
// a canned ACL, grant headers or an AccessControlPolicy body.
type aclRequest struct {
	canned       string
	headerGrants []aclGrant
	headerErr    *Error
	hasGrantHdr  bool
	body         []byte
}

// readACLHeaders collects the canned ACL and grant headers of a request.
func readACLHeaders(hdr http.Header) *aclRequest {
	in := &aclRequest{canned: hdr.Get("X-Amz-Acl")}
	for _, gh := range grantHeaders {
		v := hdr.Get(gh.header)
		if v == "" {
			continue
		}
		in.hasGrantHdr = true
		grants, e := parseGrantHeader(v, gh.perm)
		if e != nil && in.headerErr == nil {
			in.headerErr = e
		}
		in.headerGrants = append(in.headerGrants, grants...)
	}
	return in
}

// parseGrantHeader parses `id="..", uri="..", emailAddress=".."` lists.
func parseGrantHeader(v, perm string) ([]aclGrant, *Error) {
	var out []aclGrant
	for _, part := range strings.Split(v, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if !ok || val == "" {
			return nil, errorf(ErrInvalidArgument, "Invalid grant header value: %s", strings.TrimSpace(part))
		}
		g := aclGrant{Permission: perm}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "id":
			g.Type, g.ID = granteeCanonical, val
		case "uri":
			g.Type, g.URI = granteeGroup, val
		case "emailaddress":
			g.Type, g.Email = granteeEmail, val
		default:
			return nil, errorf(ErrInvalidArgument, "Invalid grant header value: %s", strings.TrimSpace(part))
		}
		out = append(out, g)
	}
	return out, nil
}

// ownerOnly reports whether the request asks for no more than the owner's
// FULL_CONTROL, all that a bucket with ACLs disabled accepts. A body that
// does not parse is left for grants to refuse.
func (in *aclRequest) ownerOnly(ownerID string) bool {
	if in.canned != "" && cannedGrants[in.canned] != nil {
		return false
	}
	for _, g := range in.headerGrants {
		if g.Type != granteeCanonical || g.ID != ownerID || g.Permission != permFullControl {
			return false
		}
	}
	if len(strings.TrimSpace(string(in.body))) == 0 {
		return true
	}
	var p accessControlPolicyIn
	if err := xml.Unmarshal(in.body, &p); err != nil {
		return true
	}
	for _, g := range p.AccessControlList.Grant {
		if g.Grantee == nil || g.Grantee.ID != ownerID || g.Permission != permFullControl {
			return false
		}
	}
	return true
}

// grants validates the request and returns the ACL it sets; required says
// whether the request must name an ACL (PUT ?acl) or may name none
// (CreateBucket, PutObject: the owner's FULL_CONTROL).
func (h *Handler) grants(in *aclRequest, required bool) ([]aclGrant, *Error) {
	hasBody := len(strings.TrimSpace(string(in.body))) > 0
	switch {
	case in.canned != "" && in.hasGrantHdr:
		return nil, newError(ErrInvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed.")
	case (in.canned != "" || in.hasGrantHdr) && hasBody:
		return nil, newError(ErrUnexpectedContent, "")
	case in.canned != "":
		extra, ok := cannedGrants[in.canned]
		if !ok {
			return nil, newError(ErrInvalidArgument, "")
		}
		return append([]aclGrant{h.ownerGrant()}, extra...), nil
	case in.hasGrantHdr:
		if in.headerErr != nil {
			return nil, in.headerErr
		}
		if e := h.checkGrantees(in.headerGrants); e != nil {
			return nil, e
		}
		return in.headerGrants, nil
	case hasBody:
		return h.parseACLBody(in.body)
	case required:
		return nil, newError(ErrMissingSecurityHeader, "")
	}
	return []aclGrant{h.ownerGrant()}, nil
}

// parseACLBody validates an AccessControlPolicy document.
func (h *Handler) parseACLBody(body []byte) ([]aclGrant, *Error) {
	var p accessControlPolicyIn
	if err := xml.Unmarshal(body, &p); err != nil || p.XMLName.Local != "AccessControlPolicy" {
		return nil, newError(ErrMalformedXML, "")
	}
	if p.Owner == nil || p.Owner.ID == "" {
		return nil, newError(ErrMalformedACLError, "")
	}
	var out []aclGrant
	for _, g := range p.AccessControlList.Grant {
		if g.Grantee == nil || !aclPermissions[g.Permission] {
			return nil, newError(ErrMalformedACLError, "")
		}
		ag := aclGrant{Type: g.Grantee.Type, Permission: g.Permission}
		switch g.Grantee.Type {
		case granteeCanonical:
			ag.ID = g.Grantee.ID
		case granteeGroup:
			ag.URI = g.Grantee.URI
		case granteeEmail:
			ag.Email = g.Grantee.Email
		default:
			return nil, newError(ErrMalformedACLError, "")
		}
		if ag.ID == "" && ag.URI == "" && ag.Email == "" {
			return nil, newError(ErrMalformedACLError, "")
		}
		out = append(out, ag)
	}
	if p.Owner.ID != h.owner.ID {
		return nil, newError(ErrInvalidArgument, "Invalid id")
	}
	if e := h.checkGrantees(out); e != nil {
		return nil, e
	}
	return out, nil
}

// checkGrantees refuses grantees that name no account or group here: the
// only account is the owner's.
func (h *Handler) checkGrantees(grants []aclGrant) *Error {
	for _, g := range grants {
		switch g.Type {
		case granteeCanonical:
			if g.ID != h.owner.ID {
				return newError(ErrInvalidArgument, "Invalid id")
			}
		case granteeGroup:
			if _, ok := groupIDs[g.URI]; !ok {
				return newError(ErrInvalidArgument, "Invalid group uri")
			}
		default:
			return newError(ErrUnresolvableGrantByEmailAddress, "")
		}
	}
	return nil
}

// encodeACL and decodeACL store a bucket's grants as an
// AccessControlPolicy document.
func (h *Handler) encodeACL(grants []aclGrant) ([]byte, error) {
	doc, err := marshalXML(h.aclDocument(grants))
	if err != nil {
		return nil, fmt.Errorf("encode acl: %w", err)
	}
	return doc, nil
}

func decodeACL(doc []byte) ([]aclGrant, error) {
	var p accessControlPolicyIn
	if err := xml.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("decode stored acl: %w", err)
	}
	out := make([]aclGrant, 0, len(p.AccessControlList.Grant))
	for _, g := range p.AccessControlList.Grant {
		if g.Grantee == nil {
			continue
		}
		ag := aclGrant{Type: g.Grantee.Type, URI: g.Grantee.URI, Email: g.Grantee.Email, Permission: g.Permission}
		if ag.Type == granteeCanonical {
			ag.ID = g.Grantee.ID
		}
		out = append(out, ag)
	}
	return out, nil
}

// bucketACL returns the bucket's effective grants and ownership setting.
func (h *Handler) bucketACL(req *request) ([]aclGrant, string, error) {
	ownership, err := h.bucketOwnership(req)
	if err != nil {
		return nil, "", err
	}
	if ownership == ownershipEnforced {
		return []aclGrant{h.ownerGrant()}, ownership, nil
	}
	doc, err := h.getBucketConfig(req, aclKind)
	if err != nil {
		return nil, "", err
	}
	if doc == nil {
		return []aclGrant{h.ownerGrant()}, ownership, nil
	}
	grants, err := decodeACL(doc)
	return grants, ownership, err
}

// readACLRequest reads a PUT ?acl request's headers and body.
func readACLRequest(req *request) (*aclRequest, error) {
	in := readACLHeaders(req.r.Header)
	body, err := readXMLBody(req)
	if err != nil {
		return nil, err
	}
	in.body = body
	return in, nil
}

func (h *Handler) getBucketACL(req *request) error {
	grants, _, err := h.bucketACL(req)
	if err != nil {
		return err
	}
	return h.writeXML(req, h.aclDocument(grants))
}

// storeBucketACL stores a bucket's ACL; with ACLs disabled there is none to
// store (the owner's FULL_CONTROL is implied).
func (h *Handler) storeBucketACL(req *request, ownership string, grants []aclGrant) error {
	if ownership == ownershipEnforced {
		return nil
	}
	doc, err := h.encodeACL(grants)
	if err != nil {
		return err
	}
	return h.putBucketConfig(req, aclKind, doc)
}

func (h *Handler) putBucketACL(req *request) error {
	ownership, err := h.bucketOwnership(req)
	if err != nil {
		return err
	}
	in, err := readACLRequest(req)
	if err != nil {
		return err
	}
	if ownership == ownershipEnforced && !in.ownerOnly(h.owner.ID) {
		return newError(ErrAccessControlListNotSupported, "")
	}
	grants, e := h.grants(in, true)
	if e != nil {
		return e
	}
	if err := h.storeBucketACL(req, ownership, grants); err != nil {
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
	return h.writeXML(req, h.aclDocument([]aclGrant{h.ownerGrant()}))
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
	in, err := readACLRequest(req)
	if err != nil {
		return err
	}
	if e := h.checkObjectACL(req, in, true); e != nil {
		return e
	}
	setVersionID(req.w.Header(), b, v.GetVersionId())
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// checkObjectACL accepts an object ACL request only when it asks for what
// every object has, the owner's FULL_CONTROL: AccessControlListNotSupported
// on a bucket with ACLs disabled, 501 otherwise.
func (h *Handler) checkObjectACL(req *request, in *aclRequest, required bool) error {
	ownership, err := h.bucketOwnership(req)
	if err != nil {
		return err
	}
	if !in.ownerOnly(h.owner.ID) {
		if ownership == ownershipEnforced {
			return newError(ErrAccessControlListNotSupported, "")
		}
		if _, e := h.grants(in, required); e != nil {
			return e
		}
		return newError(ErrNotImplemented, "Object ACLs other than the owner's FULL_CONTROL are not implemented.")
	}
	if _, e := h.grants(in, required); e != nil {
		return e
	}
	return nil
}

// objectWriteOps are the operations that take ACL headers for the object
// they create.
var objectWriteOps = map[string]bool{OpPutObject: true, OpCopyObject: true, OpCreateMultipartUpload: true}

// checkObjectWriteACL validates the ACL headers of an object write: on a
// bucket with ACLs disabled only the owner's FULL_CONTROL may be asked
// for, as in AWS. With ACLs enabled they are accepted and not kept
// (objects have no ACLs of their own).
func (h *Handler) checkObjectWriteACL(req *request) error {
	if !objectWriteOps[req.route.Op] {
		return nil
	}
	in := readACLHeaders(req.r.Header)
	if in.canned == "" && !in.hasGrantHdr {
		return nil
	}
	if _, e := h.grants(in, false); e != nil {
		return e
	}
	ownership, err := h.bucketOwnership(req)
	if err != nil {
		return err
	}
	if ownership == ownershipEnforced && !in.ownerOnly(h.owner.ID) {
		return newError(ErrAccessControlListNotSupported, "")
	}
	return nil
}
