package s3

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// MaxKeyLength is S3's limit on an object key, in bytes of UTF-8.
	MaxKeyLength = 1024
	// MaxUserMetadataSize is S3's limit on the user metadata of one object:
	// the sum of the UTF-8 lengths of every name (without x-amz-meta-) and value.
	MaxUserMetadataSize = 2 << 10
	// MaxObjectSize is S3's limit on a single PUT.
	MaxObjectSize = 5 << 30

	userMetaPrefix = "x-amz-meta-"
)

// Bucket-name prefixes and suffixes AWS reserves.
var (
	reservedBucketPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedBucketSuffixes = []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}
)

// validBucketName checks a bucket name against S3's general purpose bucket
// naming rules: 3 to 63 lowercase letters, digits, dots and hyphens,
// beginning and ending with a letter or digit, no two adjacent periods, not
// an IP address, none of AWS's reserved prefixes and suffixes. The error
// names no rule: AWS's InvalidBucketName message is the same for all.
func validBucketName(name string) *Error {
	if !bucketNameFollowsRules(name) {
		return newError(ErrInvalidBucketName, "")
	}
	return nil
}

func bucketNameFollowsRules(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) || strings.Contains(name, "..") || looksLikeIPv4(name) {
		return false
	}
	for _, p := range reservedBucketPrefixes {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range reservedBucketSuffixes {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// looksLikeIPv4 reports whether s has the form of a dotted quad of digits
// (192.168.5.4), which S3 forbids as a bucket name.
func looksLikeIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// validKey checks an object key: non-empty, at most 1024 bytes, UTF-8.
func validKey(key string) *Error {
	switch {
	case key == "":
		return newError(ErrInvalidArgument, "Object key must not be empty.")
	case len(key) > MaxKeyLength:
		return errorf(ErrKeyTooLongError, "Your key is too long: %d bytes, the limit is %d.", len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return newError(ErrInvalidArgument, "Object key must be valid UTF-8.")
	}
	return nil
}

// userMetadata collects the x-amz-meta-* headers (names lower-cased, prefix
// stripped, repeated values joined by ",") and enforces the 2 KB limit.
func userMetadata(h http.Header) (map[string]string, *Error) {
	var md map[string]string
	size := 0
	for name, values := range h {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, userMetaPrefix) {
			continue
		}
		k := lower[len(userMetaPrefix):]
		if k == "" {
			return nil, newError(ErrInvalidArgument, "A user metadata header needs a name after x-amz-meta-.")
		}
		v := strings.Join(values, ",")
		if md == nil {
			md = map[string]string{}
		}
		if old, ok := md[k]; ok {
			// Differently cased duplicates of one name: keep a stable order.
			vals := []string{old, v}
			sort.Strings(vals)
			size -= len(old)
			v = strings.Join(vals, ",")
		} else {
			size += len(k)
		}
		md[k] = v
		size += len(v)
	}
	if size > MaxUserMetadataSize {
		return nil, newError(ErrMetadataTooLarge, "").With("Size", strconv.Itoa(size)).With("MaxSizeAllowed", strconv.Itoa(MaxUserMetadataSize))
	}
	return md, nil
}

// storageClasses are the storage classes S3 knows. Anvil has one class, so
// every known class is accepted and stored as STANDARD (the class is not
// honoured); anything else is InvalidStorageClass, as in S3.
var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "OUTPOSTS": true,
	"GLACIER_IR": true, "SNOW": true, "EXPRESS_ONEZONE": true, "FSX_OPENZFS": true, "FSX_ONTAP": true,
}

// checkStorageClass validates x-amz-storage-class when present.
func checkStorageClass(h http.Header) *Error {
	if len(h.Values("x-amz-storage-class")) == 0 {
		return nil
	}
	if !storageClasses[h.Get("x-amz-storage-class")] {
		return newError(ErrInvalidStorageClass, "")
	}
	return nil
}

// redirectLocation checks an x-amz-website-redirect-location header or
// POST form field: S3 takes only an absolute http(s) URL or a path
// starting with "/".
func redirectLocation(v string) (string, *Error) {
	if v == "" || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return v, nil
	}
	return "", newError(ErrInvalidRedirectLocation, "")
}
