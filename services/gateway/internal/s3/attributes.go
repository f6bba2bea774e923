package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// Attributes GetObjectAttributes can return, as x-amz-object-attributes
// names them.
const (
	attrETag         = "ETag"
	attrChecksum     = "Checksum"
	attrObjectParts  = "ObjectParts"
	attrStorageClass = "StorageClass"
	attrObjectSize   = "ObjectSize"
)

type attributesChecksum struct {
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type attributesPart struct {
	PartNumber int32 `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	checksumFields
}

type attributesParts struct {
	TotalPartsCount      int32            `xml:"PartsCount"`
	PartNumberMarker     int32            `xml:"PartNumberMarker"`
	NextPartNumberMarker int32            `xml:"NextPartNumberMarker"`
	MaxParts             int              `xml:"MaxParts"`
	IsTruncated          bool             `xml:"IsTruncated"`
	Parts                []attributesPart `xml:"Part"`
}

type getObjectAttributesResponse struct {
	XMLName      xml.Name            `xml:"http://s3.amazonaws.com/doc/2006-03-01/ GetObjectAttributesResponse"`
	ETag         string              `xml:"ETag,omitempty"`
	Checksum     *attributesChecksum `xml:"Checksum,omitempty"`
	ObjectParts  *attributesParts    `xml:"ObjectParts,omitempty"`
	StorageClass string              `xml:"StorageClass,omitempty"`
	ObjectSize   *int64              `xml:"ObjectSize,omitempty"`
}

// parseObjectAttributes reads x-amz-object-attributes: a non-empty,
// comma-separated list of attribute names.
func parseObjectAttributes(hdr http.Header) (map[string]bool, *Error) {
	want := map[string]bool{}
	for _, v := range hdr.Values("x-amz-object-attributes") {
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			switch a {
			case attrETag, attrChecksum, attrObjectParts, attrStorageClass, attrObjectSize:
				want[a] = true
			default:
				return nil, newError(ErrInvalidArgument, "Invalid attribute name specified.")
			}
		}
	}
	if len(want) == 0 {
		return nil, newError(ErrInvalidRequest, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	return want, nil
}

func (h *Handler) getObjectAttributes(req *request) error {
	hdr := req.r.Header
	// A missing bucket is NoSuchBucket before the headers are judged.
	b, err := h.cachedBucket(req)
	if err != nil {
		return err
	}
	want, e := parseObjectAttributes(hdr)
	if e != nil {
		return e
	}
	maxParts := maxListParts
	if v := hdr.Get("x-amz-max-parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return newError(ErrInvalidArgument, "Argument max-parts must be an integer between 0 and 2147483647")
		}
		maxParts = min(n, maxListParts)
	}
	marker := 0
	if v := hdr.Get("x-amz-part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return newError(ErrInvalidArgument, "Argument partNumberMarker must be an integer.")
		}
		marker = n
	}
	v, err := h.getVersion(req, b)
	if err != nil {
		return err
	}
	out := getObjectAttributesResponse{}
	if want[attrETag] {
		out.ETag = v.GetEtag()
	}
	if want[attrStorageClass] {
		out.StorageClass = "STANDARD"
	}
	if want[attrObjectSize] {
		size := v.GetSize()
		out.ObjectSize = &size
	}
	sums, typ := objectChecksums(v)
	if want[attrChecksum] && len(sums) > 0 {
		out.Checksum = &attributesChecksum{checksumFields: newChecksumFields(withoutPartCount(sums)), ChecksumType: typ}
	}
	if want[attrObjectParts] && v.GetPartsCount() > 0 {
		out.ObjectParts = objectParts(v, sums, typ, marker, maxParts)
	}
	rh := req.w.Header()
	rh.Set("Last-Modified", v.GetLastModified().AsTime().UTC().Format(http.TimeFormat))
	setVersionID(rh, b, v.GetVersionId())
	return h.writeXML(req, out)
}

// objectParts lists a multipart object's parts after marker, each with
// its checksum of the object's algorithm (FULL_OBJECT ones too: S3 shows
// a CRC64NVME upload's part CRCs).
func objectParts(v *metadatav1.ObjectVersion, sums map[string]string, typ string, marker, maxParts int) *attributesParts {
	out := &attributesParts{
		TotalPartsCount:  v.GetPartsCount(),
		PartNumberMarker: int32(marker),
		MaxParts:         maxParts,
	}
	for _, seg := range v.GetSegments() {
		n := seg.GetPartNumber()
		if int(n) <= marker {
			continue
		}
		if len(out.Parts) == maxParts {
			out.IsTruncated = true
			break
		}
		p := attributesPart{PartNumber: n, Size: seg.GetSize()}
		if typ != "" {
			part := map[string]string{}
			for algo := range sums {
				if val, ok := seg.GetChecksums()[algo]; ok {
					part[algo] = val
				}
			}
			p.checksumFields = newChecksumFields(part)
		}
		out.Parts = append(out.Parts, p)
		out.NextPartNumberMarker = n
	}
	return out
}
