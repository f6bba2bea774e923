package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// CORS operations. OpPreflight is the OPTIONS request browsers send before
// a cross-origin request; it needs no credentials.
const (
	OpGetBucketCors    = "GetBucketCors"
	OpPutBucketCors    = "PutBucketCors"
	OpDeleteBucketCors = "DeleteBucketCors"
	OpPreflight        = "PreflightCors"
)

const (
	corsKind     = "cors"
	maxCORSRules = 100
)

// corsMethods are the methods a CORS rule may allow.
var corsMethods = map[string]bool{"GET": true, "PUT": true, "POST": true, "DELETE": true, "HEAD": true}

type corsRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds"`
}

type corsConfiguration struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CORSConfiguration"`
	Rules   []corsRule `xml:"CORSRule"`
}

// corsConfigurationIn accepts any namespace.
type corsConfigurationIn struct {
	XMLName xml.Name
	Rules   []corsRule `xml:"CORSRule"`
}

// parseCORS parses and validates a CORSConfiguration document.
func parseCORS(data []byte) (*corsConfiguration, *Error) {
	var in corsConfigurationIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "CORSConfiguration" {
		return nil, newError(ErrMalformedXML, "")
	}
	if len(in.Rules) == 0 || len(in.Rules) > maxCORSRules {
		return nil, newError(ErrMalformedXML, "")
	}
	for i := range in.Rules {
		r := &in.Rules[i]
		if len(r.AllowedMethods) == 0 || len(r.AllowedOrigins) == 0 || len(r.ID) > 255 {
			return nil, newError(ErrMalformedXML, "")
		}
		for _, m := range r.AllowedMethods {
			if !corsMethods[m] {
				return nil, errorf(ErrInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return nil, errorf(ErrInvalidRequest, "AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, hd := range r.AllowedHeaders {
			if e := checkCORSHeaderName(hd); e != nil {
				return nil, e
			}
			if strings.Count(hd, "*") > 1 {
				return nil, errorf(ErrInvalidRequest, "AllowedHeader %q can not have more than one wildcard.", hd)
			}
		}
		for _, hd := range r.ExposeHeaders {
			if e := checkCORSHeaderName(hd); e != nil {
				return nil, e
			}
		}
		// A negative MaxAgeSeconds is accepted, as S3 accepts it.
	}
	return &corsConfiguration{Rules: in.Rules}, nil
}

// wildcardMatch matches s against a pattern holding at most one "*".
func wildcardMatch(pattern, s string) bool {
	before, after, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// match finds the first rule allowing origin, method and every header.
func (c *corsConfiguration) match(origin, method string, headers []string) *corsRule {
	for i := range c.Rules {
		r := &c.Rules[i]
		if !anyMatch(r.AllowedOrigins, origin, false) || !contains(r.AllowedMethods, method) {
			continue
		}
		ok := true
		for _, hd := range headers {
			if !anyMatch(r.AllowedHeaders, hd, true) {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// setCORSHeaders writes the Access-Control-* headers rule grants origin;
// requestHeaders are the matched Access-Control-Request-Headers.
func setCORSHeaders(hdr http.Header, r *corsRule, origin string, requestHeaders []string) {
	hdr.Add("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	if len(r.AllowedOrigins) == 1 && r.AllowedOrigins[0] == "*" {
		hdr.Set("Access-Control-Allow-Origin", "*")
	} else {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	hdr.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(r.ExposeHeaders) > 0 {
		hdr.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds != nil {
		hdr.Set("Access-Control-Max-Age", strconv.Itoa(*r.MaxAgeSeconds))
	}
	if len(requestHeaders) > 0 {
		hdr.Set("Access-Control-Allow-Headers", strings.Join(requestHeaders, ", "))
	}
}

// isToken reports whether s is an HTTP token (RFC 9110), as header names are.
// checkCORSHeaderName refuses a header name that is not an HTTP token. S3
// words the error the same for AllowedHeader and ExposeHeader.
func checkCORSHeaderName(name string) *Error {
	if !isToken(name) {
		return errorf(ErrInvalidRequest, `AllowedHeader "%s" contains invalid character.`, name)
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// splitHeaderList splits Access-Control-Request-Headers into lower-case
// names, refusing one that is not a header name.
func splitHeaderList(v string) ([]string, *Error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		name := strings.TrimLeft(p, " ")
		if name == "" {
			continue
		}
		if !isToken(name) {
			// Quoted as sent, with the space after the comma.
			return nil, errorf(ErrBadRequest, `Access-Control-Request-Headers "%s" contains invalid character.`, p)
		}
		out = append(out, strings.ToLower(name))
	}
	return out, nil
}

// bucketCORS loads the bucket's CORS configuration, nil when none is set.
func (h *Handler) bucketCORS(req *request) (*corsConfiguration, error) {
	doc, err := h.getBucketConfig(req, corsKind)
	if err != nil || doc == nil {
		return nil, err
	}
	cfg, e := parseCORS(doc)
	if e != nil {
		return nil, fmt.Errorf("decode stored cors configuration: %s", e.Message)
	}
	return cfg, nil
}

// corsHeaders adds the CORS response headers to a request from an Origin
// that the bucket's CORS rules allow. It runs for every request with an
// Origin header, before authentication, so errors carry the headers too.
func (h *Handler) corsHeaders(req *request) {
	origin := req.r.Header.Get("Origin")
	if origin == "" || req.route.Bucket == "" || req.route.Err != nil {
		return
	}
	cfg, err := h.bucketCORS(req)
	if err != nil || cfg == nil {
		return
	}
	// S3 evaluates the rules as for a preflight when a plain request carries
	// Access-Control-Request-Method: that method and the listed headers are
	// matched instead of the request's own method, and answered alike.
	method, headers := req.r.Method, []string(nil)
	if m := req.r.Header.Get("Access-Control-Request-Method"); m != "" {
		var e *Error
		if headers, e = splitHeaderList(req.r.Header.Get("Access-Control-Request-Headers")); e != nil {
			return
		}
		method = m
	}
	if r := cfg.match(origin, method, headers); r != nil {
		setCORSHeaders(req.w.Header(), r, origin, headers)
	}
}

// preflight answers a CORS preflight (OPTIONS) request.
func (h *Handler) preflight(req *request) {
	fail := func(e *Error) { h.writeError(req, e) }
	if req.route.Err != nil {
		fail(req.route.Err)
		return
	}
	origin := req.r.Header.Get("Origin")
	if origin == "" {
		fail(newError(ErrBadRequest, "Insufficient information. Origin request header needed."))
		return
	}
	method := req.r.Header.Get("Access-Control-Request-Method")
	if !corsMethods[method] {
		fail(errorf(ErrBadRequest, "Invalid Access-Control-Request-Method: %s", method))
		return
	}
	headers, e := splitHeaderList(req.r.Header.Get("Access-Control-Request-Headers"))
	if e != nil {
		fail(e)
		return
	}
	cfg, err := h.bucketCORS(req)
	if err != nil {
		fail(toS3Error(err))
		return
	}
	if cfg == nil {
		fail(newError(ErrAccessForbidden, "CORSResponse: CORS is not enabled for this bucket."))
		return
	}
	r := cfg.match(origin, method, headers)
	if r == nil {
		fail(newError(ErrAccessForbidden, ""))
		return
	}
	setCORSHeaders(req.w.Header(), r, origin, headers)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
}

func (h *Handler) putBucketCors(req *request) error {
	data, err := readXMLBody(req)
	if err != nil {
		return err
	}
	cfg, e := parseCORS(data)
	if e != nil {
		return e
	}
	doc, err := marshalXML(cfg)
	if err != nil {
		return fmt.Errorf("encode cors configuration: %w", err)
	}
	if err := h.putBucketConfig(req, corsKind, doc); err != nil {
		return err
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketCors(req *request) error {
	cfg, err := h.bucketCORS(req)
	if err != nil {
		return err
	}
	if cfg == nil {
		return newError(ErrNoSuchCORSConfiguration, "")
	}
	return h.writeXML(req, cfg)
}

func (h *Handler) deleteBucketCors(req *request) error {
	if err := h.deleteBucketConfig(req, corsKind); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
