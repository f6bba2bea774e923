package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
)

// Ownership controls: whether a bucket's ACLs count. New buckets get
// BucketOwnerEnforced (ACLs disabled) unless CreateBucket names another
// setting, as in AWS since April 2023.
const (
	OpPutBucketOwnershipControls    = "PutBucketOwnershipControls"
	OpGetBucketOwnershipControls    = "GetBucketOwnershipControls"
	OpDeleteBucketOwnershipControls = "DeleteBucketOwnershipControls"

	ownershipKind = "ownership"

	ownershipEnforced  = "BucketOwnerEnforced"
	ownershipPreferred = "BucketOwnerPreferred"
	ownershipWriter    = "ObjectWriter"
)

func validOwnership(s string) bool {
	return s == ownershipEnforced || s == ownershipPreferred || s == ownershipWriter
}

type ownershipControls struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ OwnershipControls"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

// ownershipControlsIn accepts any namespace.
type ownershipControlsIn struct {
	XMLName xml.Name
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

// parseOwnershipControls returns the one ObjectOwnership setting of an
// OwnershipControls document.
func parseOwnershipControls(data []byte) (string, *Error) {
	var in ownershipControlsIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "OwnershipControls" ||
		len(in.Rules) != 1 || !validOwnership(in.Rules[0].ObjectOwnership) {
		return "", newError(ErrMalformedXML, "")
	}
	return in.Rules[0].ObjectOwnership, nil
}

// bucketOwnership returns the bucket's ObjectOwnership setting, "" when
// it has none (a bucket whose controls were deleted: ACLs count, as with
// ObjectWriter). A missing bucket is NoSuchBucket.
func (h *Handler) bucketOwnership(req *request) (string, error) {
	doc, err := h.getBucketConfig(req, ownershipKind)
	if err != nil || doc == nil {
		return "", err
	}
	if !validOwnership(string(doc)) {
		return "", fmt.Errorf("stored ownership setting %q", doc)
	}
	return string(doc), nil
}

func (h *Handler) putBucketOwnershipControls(req *request) error {
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	setting, e := parseOwnershipControls(data)
	if e != nil {
		return e
	}
	if setting == ownershipEnforced {
		// As AWS: ACLs can be disabled only once the bucket's ACL grants
		// nothing beyond the owner's FULL_CONTROL.
		doc, err := h.getBucketConfig(req, aclKind)
		if err != nil {
			return err
		}
		if doc != nil {
			grants, err := decodeACL(doc)
			if err != nil {
				return err
			}
			if len(grants) != 1 || grants[0] != h.ownerGrant() {
				return newError(ErrInvalidBucketAclWithObjectOwnership, "")
			}
		}
	}
	if err := h.putBucketConfig(req, ownershipKind, []byte(setting)); err != nil {
		return err
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketOwnershipControls(req *request) error {
	setting, err := h.bucketOwnership(req)
	if err != nil {
		return err
	}
	if setting == "" {
		return newError(ErrOwnershipControlsNotFoundError, "")
	}
	out := ownershipControls{}
	out.Rules = append(out.Rules, struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	}{setting})
	return h.writeXML(req, out)
}

func (h *Handler) deleteBucketOwnershipControls(req *request) error {
	if err := h.deleteBucketConfig(req, ownershipKind); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
