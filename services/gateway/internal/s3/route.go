package s3

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Operations, the bounded label set of the request metrics.
const (
	OpListBuckets       = "ListBuckets"
	OpCreateBucket      = "CreateBucket"
	OpHeadBucket        = "HeadBucket"
	OpGetBucketLocation = "GetBucketLocation"
	OpDeleteBucket      = "DeleteBucket"
	OpListObjects       = "ListObjects"
	OpListObjectsV2     = "ListObjectsV2"
	OpPutObject         = "PutObject"
	OpGetObject         = "GetObject"
	OpHeadObject        = "HeadObject"
	OpDeleteObject      = "DeleteObject"
	// OpUnsupported labels requests the gateway refuses before doing anything.
	OpUnsupported = "Unsupported"
)

// route is what a request addresses: resolved from Host, path and query
// alone, without touching any state.
type route struct {
	Op     string
	Bucket string
	Key    string
	Query  url.Values
	// Err, when set, is returned after authentication instead of running Op.
	Err *Error
}

// subresources are query parameters that select S3 functionality the
// gateway does not implement (yet). A request carrying one gets 501 rather
// than being mistaken for a plain GET/PUT/DELETE of the bucket or object.
var subresources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "attributes": true, "cors": true,
	"delete": true, "encryption": true, "intelligent-tiering": true, "inventory": true,
	"legal-hold": true, "lifecycle": true, "logging": true, "metadataConfiguration": true,
	"metadataTable": true, "metrics": true, "notification": true, "object-lock": true,
	"ownershipControls": true, "partNumber": true, "policy": true, "policyStatus": true,
	"publicAccessBlock": true, "renameObject": true, "replication": true, "requestPayment": true,
	"restore": true, "retention": true, "select": true, "select-type": true, "session": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true, "versioning": true,
	"versions": true, "website": true, "abac": true,
}

// hostBucket returns the bucket named by a virtual-host style Host header:
// "photos.s3.example.com" with domain "s3.example.com" gives "photos". A host
// that is a domain itself, or matches none, is path style ("", false).
func hostBucket(host string, domains []string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if d == "" || host == d {
			continue
		}
		if strings.HasSuffix(host, "."+d) {
			return strings.TrimSuffix(host, "."+d), true
		}
	}
	return "", false
}

// resolve works out the operation, bucket and key of r.
func resolve(r *http.Request, domains []string) route {
	rt := route{Op: OpUnsupported}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		rt.Err = newError(ErrInvalidURI, "")
		return rt
	}
	rt.Query = q
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		rt.Err = newError(ErrInvalidURI, "")
		return rt
	}
	if b, ok := hostBucket(r.Host, domains); ok {
		rt.Bucket, rt.Key = b, p[1:]
	} else {
		rest := p[1:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rt.Bucket, rt.Key = rest[:i], rest[i+1:]
		} else {
			rt.Bucket = rest
		}
	}

	if rt.Bucket == "" {
		if r.Method == http.MethodGet {
			rt.Op = OpListBuckets
		} else {
			rt.Err = methodNotAllowed(r.Method, "SERVICE", "")
		}
		return rt
	}
	if rt.Err = shapeError(r, q, rt.Key != ""); rt.Err != nil {
		return rt
	}
	switch {
	case rt.Key == "":
		rt.Op = bucketOp(r.Method, q)
	default:
		rt.Op = objectOp(r, q)
	}
	if rt.Op == OpUnsupported {
		rt.Err = unsupported(r, q)
		return rt
	}
	if err := validBucketName(rt.Bucket); err != nil {
		rt.Err = err
		return rt
	}
	if rt.Key != "" {
		if err := validKey(rt.Key); err != nil {
			rt.Err = err
		}
	}
	return rt
}

// shapeError is S3's answer to a request whose method, query and headers
// fit no operation. It comes before authorization, which needs an operation
// to authorize (so anonymous callers see it too).
func shapeError(r *http.Request, q url.Values, object bool) *Error {
	_, uploadID := q["uploadId"]
	_, partNumber := q["partNumber"]
	if src := r.Header.Get("x-amz-copy-source"); src != "" {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodDelete:
			return copySourceNotAllowed(src)
		case http.MethodPost:
			if uploadID {
				return copySourceNotAllowed(src)
			}
		}
	}
	if !object {
		return nil
	}
	switch r.Method {
	case http.MethodPut:
		if partNumber && !uploadID {
			return newError(ErrInvalidArgument, "This operation does not accept partNumber without uploadId").
				With("ArgumentName", "partNumber").With("ArgumentValue", "partNumber")
		}
		if uploadID && !partNumber {
			return methodNotAllowed(r.Method, "UPLOAD", "DELETE, POST, GET")
		}
	case http.MethodGet:
		if _, ok := q["uploads"]; ok {
			return newError(ErrInvalidRequest, "Key is not expected for the GET method ?uploads subresource")
		}
		if _, ok := q["versions"]; ok {
			return newError(ErrInvalidRequest, "There is no such thing as the ?versions sub-resource for a key")
		}
	case http.MethodPost:
		for _, k := range []string{"uploads", "uploadId", "restore", "select", "renameObject"} {
			if _, ok := q[k]; ok {
				return nil
			}
		}
		if len(q) == 0 {
			return methodNotAllowed(r.Method, "SERVICE", "")
		}
		return methodNotAllowed(r.Method, "OBJECT", "")
	}
	return nil
}

func copySourceNotAllowed(src string) *Error {
	return newError(ErrInvalidArgument, "You can only specify a copy source header for copy requests.").
		With("ArgumentName", "x-amz-copy-source").With("ArgumentValue", src)
}

func hasSubresource(q url.Values) (string, bool) {
	for k := range q {
		if subresources[k] {
			return k, true
		}
	}
	return "", false
}

func unsupported(r *http.Request, q url.Values) *Error {
	if sub, ok := hasSubresource(q); ok {
		return errorf(ErrNotImplemented, "The %s ?%s operation is not implemented.", r.Method, sub)
	}
	return errorf(ErrNotImplemented, "The %s operation is not implemented on this resource.", r.Method)
}

func bucketOp(method string, q url.Values) string {
	if op := bucketFeatureOp(method, q); op != "" {
		return op
	}
	if op, ok := dataBucketOp(method, q); ok {
		return op
	}
	_, sub := hasSubresource(q)
	_, location := q["location"]
	switch method {
	case http.MethodGet:
		switch {
		case sub:
			return OpUnsupported
		case location:
			return OpGetBucketLocation
		case q.Get("list-type") == "2":
			return OpListObjectsV2
		default:
			return OpListObjects
		}
	case http.MethodHead:
		if sub || location {
			return OpUnsupported
		}
		return OpHeadBucket
	case http.MethodPut:
		if sub || location {
			return OpUnsupported
		}
		return OpCreateBucket
	case http.MethodDelete:
		if sub || location {
			return OpUnsupported
		}
		return OpDeleteBucket
	}
	return OpUnsupported
}

func objectOp(r *http.Request, q url.Values) string {
	if op := objectFeatureOp(r.Method, q); op != "" {
		return op
	}
	if op, ok := dataObjectOp(r, q); ok {
		return op
	}
	if _, sub := hasSubresource(q); sub {
		return OpUnsupported
	}
	switch r.Method {
	case http.MethodGet:
		return OpGetObject
	case http.MethodHead:
		return OpHeadObject
	case http.MethodPut:
		if r.Header.Get("x-amz-copy-source") != "" {
			return OpCopyObject
		}
		return OpPutObject
	case http.MethodDelete:
		return OpDeleteObject
	}
	return OpUnsupported
}
