package s3

import (
	"bytes"
	"encoding/xml"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

// s3NS is the namespace of S3 response documents.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// timeFormat is how S3 writes timestamps inside XML documents.
const timeFormat = "2006-01-02T15:04:05.000Z"

func xmlTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// errorResponse is an error body. It is written by hand rather than by
// encoding/xml so that quotes stay literal in element text, as AWS sends
// them: clients search raw bodies for quoted text such as a failed POST
// policy condition (["eq", "$key", "v"]), and &#34; would hide it.
type errorResponse struct {
	Code      string
	Message   string
	Fields    []ErrorField // extra elements, after Message
	Resource  string       // omitted when empty
	RequestID string
	HostID    string
}

func (e errorResponse) marshal() []byte {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	writeElement(&b, "Code", e.Code)
	writeElement(&b, "Message", e.Message)
	for _, f := range e.Fields {
		writeElement(&b, f.Name, f.Value)
	}
	if e.Resource != "" {
		writeElement(&b, "Resource", e.Resource)
	}
	writeElement(&b, "RequestId", e.RequestID)
	writeElement(&b, "HostId", e.HostID)
	b.WriteString("</Error>")
	return []byte(b.String())
}

// writeElement writes <name>text</name>, escaping what XML requires (&, <,
// >, a CR so it survives parsing) and replacing characters XML cannot hold.
func writeElement(b *strings.Builder, name, text string) {
	b.WriteString("<" + name + ">")
	for _, r := range text {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == 0x09 || r == 0x0A || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF:
			b.WriteRune(r)
		default:
			b.WriteRune('\uFFFD')
		}
	}
	b.WriteString("</" + name + ">")
}

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type bucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   owner    `xml:"Owner"`
	Buckets struct {
		Bucket []bucketEntry `xml:"Bucket"`
	} `xml:"Buckets"`
	ContinuationToken string `xml:"ContinuationToken,omitempty"`
	Prefix            string `xml:"Prefix,omitempty"`
}

// locationConstraint is GetBucketLocation's answer; us-east-1 is the empty
// element, as in AWS.
type locationConstraint struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Location string   `xml:",chardata"`
}

// createBucketConfiguration is CreateBucket's optional request body.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
	// Tags become the new bucket's tags (as PutBucketTagging's).
	Tags *tagListIn `xml:"Tags"`
}

type objectEntry struct {
	Key               string   `xml:"Key"`
	LastModified      string   `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
	Size              int64    `xml:"Size"`
	Owner             *owner   `xml:"Owner,omitempty"`
	StorageClass      string   `xml:"StorageClass"`
	// UserMetadata is set only for MinIO's metadata=true listing extension.
	UserMetadata *listedUserMetadata `xml:"UserMetadata,omitempty"`
}

// listedUserMetadata is a version's user metadata as MinIO lists it: one
// element per entry, named by its header (X-Amz-Meta-Name) and holding the
// value.
type listedUserMetadata map[string]string

// MarshalXML writes the entries in name order. A name that cannot be an XML
// element name (header names allow characters such as '#' or '*') is left
// out rather than breaking the document.
func (m listedUserMetadata) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := http.CanonicalHeaderKey(userMetaPrefix + k)
		if strings.ContainsFunc(name, notXMLNameChar) {
			continue
		}
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// notXMLNameChar reports a character outside the plain ASCII subset of XML
// name characters that metadata names are expected to use.
func notXMLNameChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

// listedChecksums returns the algorithms of a version's stored checksums and
// their type, as listings show them.
func listedChecksums(v *metadatav1.ObjectVersion) ([]string, string) {
	if len(v.GetChecksums()) == 0 {
		return nil, ""
	}
	algs := slices.Sorted(maps.Keys(v.GetChecksums()))
	typ := v.GetChecksumType()
	if typ == "" {
		typ = checksumTypeFullObject
	}
	return algs, typ
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []objectEntry  `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
}

type listBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []objectEntry  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
}

// marshalXML renders v as a complete document with the XML declaration S3
// sends.
func marshalXML(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
