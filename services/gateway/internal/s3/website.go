package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
)

// Website configuration: stored and validated as AWS does. Anvil serves
// no website endpoint, so the configuration changes no request.
const (
	OpPutBucketWebsite    = "PutBucketWebsite"
	OpGetBucketWebsite    = "GetBucketWebsite"
	OpDeleteBucketWebsite = "DeleteBucketWebsite"

	websiteKind = "website"
	// maxWebsiteBody is AWS's limit on a website configuration request.
	maxWebsiteBody  = 128 << 10
	maxRoutingRules = 50
)

type websiteRedirectAll struct {
	HostName *string `xml:"HostName"`
	Protocol string  `xml:"Protocol,omitempty"`
}

type websiteCondition struct {
	HTTPErrorCodeReturnedEquals *string `xml:"HttpErrorCodeReturnedEquals"`
	KeyPrefixEquals             *string `xml:"KeyPrefixEquals"`
}

type websiteRedirect struct {
	HostName             *string `xml:"HostName"`
	HTTPRedirectCode     *string `xml:"HttpRedirectCode"`
	Protocol             *string `xml:"Protocol"`
	ReplaceKeyPrefixWith *string `xml:"ReplaceKeyPrefixWith"`
	ReplaceKeyWith       *string `xml:"ReplaceKeyWith"`
}

type websiteRoutingRule struct {
	Condition *websiteCondition `xml:"Condition"`
	Redirect  *websiteRedirect  `xml:"Redirect"`
}

// websiteRules is a WebsiteConfiguration's content.
type websiteRules struct {
	RedirectAllRequestsTo *websiteRedirectAll `xml:"RedirectAllRequestsTo"`
	IndexDocument         *struct {
		Suffix string `xml:"Suffix"`
	} `xml:"IndexDocument"`
	ErrorDocument *struct {
		Key string `xml:"Key"`
	} `xml:"ErrorDocument"`
	RoutingRules *struct {
		Rules []websiteRoutingRule `xml:"RoutingRule"`
	} `xml:"RoutingRules"`
}

type websiteConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ WebsiteConfiguration"`
	websiteRules
}

// websiteConfigurationIn accepts any namespace.
type websiteConfigurationIn struct {
	XMLName xml.Name
	websiteRules
}

// validRedirectCodes and validErrorCodes are the codes a routing rule may
// name.
var (
	validRedirectCodes = map[int]bool{301: true, 302: true, 303: true, 304: true, 305: true, 307: true, 308: true}
	validErrorCodes    = map[int]bool{
		400: true, 401: true, 402: true, 403: true, 404: true, 405: true, 406: true, 407: true, 408: true,
		409: true, 410: true, 411: true, 412: true, 413: true, 414: true, 415: true, 416: true, 417: true,
		500: true, 501: true, 502: true, 503: true, 504: true, 505: true,
	}
)

func invalidProtocol(p string) *Error {
	if p == "" || p == "http" || p == "https" {
		return nil
	}
	return newError(ErrInvalidRequest, "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.")
}

// parseWebsite parses and validates a WebsiteConfiguration document.
func parseWebsite(data []byte) (*websiteConfiguration, *Error) {
	var in websiteConfigurationIn
	if err := xml.Unmarshal(data, &in); err != nil || in.XMLName.Local != "WebsiteConfiguration" {
		return nil, newError(ErrMalformedXML, "")
	}
	c := websiteConfiguration{websiteRules: in.websiteRules}
	if r := c.RedirectAllRequestsTo; r != nil {
		if c.IndexDocument != nil || c.ErrorDocument != nil || c.RoutingRules != nil || r.HostName == nil || *r.HostName == "" {
			return nil, newError(ErrMalformedXML, "")
		}
		if e := invalidProtocol(r.Protocol); e != nil {
			return nil, e
		}
		return &c, nil
	}
	if c.IndexDocument == nil {
		return nil, newError(ErrInvalidArgument, "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")
	}
	if s := c.IndexDocument.Suffix; s == "" || strings.Contains(s, "/") {
		return nil, newError(ErrInvalidArgument, "The IndexDocument Suffix is not well formed")
	}
	if c.ErrorDocument != nil && c.ErrorDocument.Key == "" {
		return nil, newError(ErrInvalidArgument, "The ErrorDocument Key is not well formed")
	}
	if c.RoutingRules != nil {
		if n := len(c.RoutingRules.Rules); n > maxRoutingRules {
			return nil, errorf(ErrInvalidRequest, "%d routing rules provided, the number of routing rules in a website configuration is limited to %d.", n, maxRoutingRules)
		}
		for _, rule := range c.RoutingRules.Rules {
			if e := validateRoutingRule(rule); e != nil {
				return nil, e
			}
		}
	}
	return &c, nil
}

func validateRoutingRule(rule websiteRoutingRule) *Error {
	if c := rule.Condition; c != nil {
		if c.HTTPErrorCodeReturnedEquals == nil && c.KeyPrefixEquals == nil {
			return newError(ErrMalformedXML, "")
		}
		if v := c.HTTPErrorCodeReturnedEquals; v != nil {
			code, err := strconv.Atoi(*v)
			if err != nil {
				return newError(ErrMalformedXML, "")
			}
			if !validErrorCodes[code] {
				return errorf(ErrInvalidRequest, "The provided HTTP error code (%d) is not valid. Valid codes are 4XX or 5XX.", code)
			}
		}
	}
	r := rule.Redirect
	if r == nil || r.HostName == nil && r.HTTPRedirectCode == nil && r.Protocol == nil && r.ReplaceKeyPrefixWith == nil && r.ReplaceKeyWith == nil {
		return newError(ErrMalformedXML, "")
	}
	if r.Protocol != nil {
		if e := invalidProtocol(*r.Protocol); e != nil {
			return e
		}
	}
	if r.ReplaceKeyPrefixWith != nil && r.ReplaceKeyWith != nil {
		return newError(ErrInvalidRequest, "You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
	}
	if v := r.HTTPRedirectCode; v != nil {
		code, err := strconv.Atoi(*v)
		if err != nil {
			return newError(ErrMalformedXML, "")
		}
		if !validRedirectCodes[code] {
			return errorf(ErrInvalidRequest, "The provided HTTP redirect code (%d) is not valid. Valid codes are 3XX except 300.", code)
		}
	}
	return nil
}

// readWebsiteBody reads a website configuration body of at most
// maxWebsiteBody bytes.
func readWebsiteBody(req *request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(req.body, maxWebsiteBody+1))
	if err != nil {
		return nil, &datapath.BodyError{Err: err}
	}
	if len(data) > maxWebsiteBody {
		return nil, newError(ErrMaxMessageLengthExceeded, "")
	}
	if e := checkBodyDigests(req.r.Header, data, req.trailers); e != nil {
		return nil, e
	}
	return data, nil
}

func (h *Handler) putBucketWebsite(req *request) error {
	data, err := readWebsiteBody(req)
	if err != nil {
		return err
	}
	cfg, e := parseWebsite(data)
	if e != nil {
		return e
	}
	doc, err := marshalXML(cfg)
	if err != nil {
		return fmt.Errorf("encode website configuration: %w", err)
	}
	if err := h.putBucketConfig(req, websiteKind, doc); err != nil {
		return err
	}
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketWebsite(req *request) error {
	doc, err := h.getBucketConfig(req, websiteKind)
	if err != nil {
		return err
	}
	if doc == nil {
		return newError(ErrNoSuchWebsiteConfiguration, "")
	}
	cfg, e := parseWebsite(doc)
	if e != nil {
		return errors.New("decode stored website configuration: " + e.Message)
	}
	return h.writeXML(req, cfg)
}

func (h *Handler) deleteBucketWebsite(req *request) error {
	if err := h.deleteBucketConfig(req, websiteKind); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
