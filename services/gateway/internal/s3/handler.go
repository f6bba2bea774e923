// Package s3 serves the S3 REST API: routing (path and virtual-host style),
// authentication through SigV4, the bucket and object operations, and the
// translation of every error into S3's XML error responses.
package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/anvil-store/anvil/pkg/erasure"
	"github.com/anvil-store/anvil/pkg/requestid"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Authenticator verifies a request's signature; *sigv4.Verifier is one.
type Authenticator interface {
	Verify(r *http.Request) (*sigv4.Result, error)
}

// Config is the S3 front end's configuration.
type Config struct {
	// Region is the gateway's region: new buckets go there, and
	// CreateBucket's location constraint must name it.
	Region string
	// Domains enable virtual-host style: Host "b.<domain>" addresses bucket b.
	Domains []string
	// Erasure holds the parameters of new buckets' objects.
	Erasure erasure.Params
	// HostID identifies this gateway in x-amz-id-2.
	HostID string
	// MetadataTimeout bounds every metadata call (0 = 10s).
	MetadataTimeout time.Duration
	// OwnerID is the owner id shown for buckets and objects and named in
	// ACLs: the single tenant's root access key id, for now.
	OwnerID string
	// MinPartSize is the smallest size of every multipart part but the
	// last (0 = S3's 5 MiB).
	MinPartSize int64
}

// Handler is the S3 REST API http.Handler.
type Handler struct {
	cfg     Config
	meta    metadatav1.MetadataServiceClient
	data    *datapath.Store
	auth    Authenticator
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	owner   owner
	// buckets caches bucket records for presentation (version id headers).
	buckets *ttlCache[*metadatav1.Bucket]
	// policies caches parsed bucket policies (nil: none) for authorization.
	policies *ttlCache[*policy]
}

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	bytesReceived prometheus.Counter
	bytesSent     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "anvil_gateway_s3_requests_total",
			Help: "S3 requests by operation and status class (2xx, 3xx, 4xx, 5xx, or aborted: cut off mid-response).",
		}, []string{"operation", "status_class"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "anvil_gateway_s3_request_duration_seconds",
			Help:    "S3 request latency by operation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"operation"}),
		bytesReceived: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_gateway_s3_bytes_received_total",
			Help: "Request body bytes received on the S3 API.",
		}),
		bytesSent: f.NewCounter(prometheus.CounterOpts{
			Name: "anvil_gateway_s3_bytes_sent_total",
			Help: "Response body bytes sent on the S3 API.",
		}),
	}
}

// New returns the S3 handler.
func New(cfg Config, meta metadatav1.MetadataServiceClient, data *datapath.Store, auth Authenticator, log *slog.Logger, reg prometheus.Registerer) *Handler {
	if cfg.MetadataTimeout <= 0 {
		cfg.MetadataTimeout = 10 * time.Second
	}
	if cfg.OwnerID == "" {
		cfg.OwnerID = "anvil"
	}
	if cfg.MinPartSize <= 0 {
		cfg.MinPartSize = DefaultMinPartSize
	}
	return &Handler{
		cfg:      cfg,
		meta:     meta,
		data:     data,
		auth:     auth,
		log:      log,
		metrics:  newMetrics(reg),
		now:      time.Now,
		owner:    owner{ID: cfg.OwnerID, DisplayName: cfg.OwnerID},
		buckets:  newTTLCache[*metadatav1.Bucket](),
		policies: newTTLCache[*policy](),
	}
}

// checkExpectedOwner refuses a request whose x-amz-expected-bucket-owner
// (or, for copies, x-amz-source-expected-bucket-owner) names another owner
// than the buckets': AWS answers 403 so a client never writes to or reads
// from a bucket it did not expect.
func (h *Handler) checkExpectedOwner(r *http.Request) *Error {
	for _, name := range []string{"X-Amz-Expected-Bucket-Owner", "X-Amz-Source-Expected-Bucket-Owner"} {
		v := r.Header.Get(name)
		if v != "" && v != h.owner.ID {
			return newError(ErrAccessDenied, "")
		}
	}
	return nil
}

// request is one S3 request in flight.
type request struct {
	id    string
	route route
	r     *http.Request
	w     *responseWriter
	body  io.Reader // verified body, counted
	// trailers returns the body's trailing headers once it reached io.EOF.
	trailers func() http.Header
}

// responseWriter records the status and body bytes of a response.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.status, w.wroteHeader = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets long responses stream.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// countingReader counts body bytes as they are read.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (h *Handler) hostID(reqID string) string {
	sum := sha256.Sum256([]byte(h.cfg.HostID + "/" + reqID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ServeHTTP authenticates, routes and runs one S3 request, and logs and
// counts it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	id := requestid.New()
	// Every call this request makes to other services carries its id.
	r = r.WithContext(requestid.With(r.Context(), id))
	req := &request{id: id, r: r, w: &responseWriter{ResponseWriter: w}}
	hdr := w.Header()
	hdr.Set("x-amz-request-id", req.id)
	hdr.Set("x-amz-id-2", h.hostID(req.id))
	hdr.Set("Server", "Anvil")
	req.route = resolve(r, h.cfg.Domains)
	counter := &countingReader{r: http.NoBody}
	req.body = counter

	aborted := false
	defer func() {
		rec := recover()
		if rec != nil {
			if rec == http.ErrAbortHandler {
				aborted = true
			} else {
				h.log.Error("s3 handler panic", "request_id", req.id, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
				if !req.w.wroteHeader {
					h.writeError(req, newError(ErrInternalError, ""))
				} else {
					aborted = true
				}
			}
		}
		h.finish(req, start, counter.n.Load(), aborted)
		if aborted {
			// Headers went out already: cut the connection so the client
			// sees a failed response rather than short or wrong bytes.
			panic(http.ErrAbortHandler)
		}
	}()

	if e := checkHeaderSection(r); e != nil {
		h.writeError(req, e)
		return
	}
	if req.route.Op == OpPreflight {
		// Browsers send CORS preflights without credentials.
		h.preflight(req)
		return
	}
	h.corsHeaders(req)
	res, err := h.auth.Verify(r)
	if err != nil {
		h.writeError(req, toS3Error(err))
		return
	}
	if res.Body != nil {
		// No Close here: net/http closes the body after sending the
		// response. Closing an unread body earlier makes the server drain
		// it, which deadlocks an Expect: 100-continue client waiting for
		// our answer before it sends the body.
		counter.r = res.Body
	}
	req.trailers = res.Trailers
	// POST Object authenticates by the signed policy inside its form.
	anonymous := res.Anonymous && req.route.Op != OpPostObject
	if res.Chunked && req.route.Op != OpPutObject && req.route.Op != OpUploadPart {
		// Streaming payloads carry object data only (AWS refuses them elsewhere).
		h.writeError(req, newError(ErrInvalidRequest, "The value of x-amz-content-sha256 header is invalid."))
		return
	}
	if req.route.Err != nil {
		h.writeError(req, req.route.Err)
		return
	}
	if e := h.checkExpectedOwner(r); e != nil {
		h.writeError(req, e)
		return
	}
	if err := h.authorize(req, anonymous); err != nil {
		h.writeError(req, toS3Error(err))
		return
	}
	if err := h.checkObjectWriteACL(req); err != nil {
		h.writeError(req, toS3Error(err))
		return
	}
	if err := h.dispatch(req, res); err != nil {
		e := toS3Error(err)
		if e.HTTPStatus >= 500 {
			// Clients see only the S3 error; operators find the cause by request id.
			h.log.Warn("s3 request failed", "request_id", req.id, "operation", req.route.Op,
				"bucket", req.route.Bucket, "key", req.route.Key, "code", e.Code, "err", err)
		}
		h.writeError(req, e)
	}
}

func (h *Handler) finish(req *request, start time.Time, received int64, aborted bool) {
	status := req.w.status
	if !req.w.wroteHeader {
		status = http.StatusOK
	}
	d := h.now().Sub(start)
	op := req.route.Op
	h.metrics.requests.WithLabelValues(op, statusClass(status, aborted)).Inc()
	h.metrics.duration.WithLabelValues(op).Observe(d.Seconds())
	h.metrics.bytesReceived.Add(float64(received))
	h.metrics.bytesSent.Add(float64(req.w.bytes))
	attrs := []any{
		"request_id", req.id, "operation", op, "method", req.r.Method,
		"bucket", req.route.Bucket, "key", req.route.Key, "status", status,
		"bytes_in", received, "bytes_out", req.w.bytes, "duration", d,
	}
	if aborted {
		attrs = append(attrs, "aborted", true)
	}
	h.log.Info("s3 request", attrs...)
}

func statusClass(status int, aborted bool) string {
	if aborted {
		return "aborted"
	}
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	}
	return "2xx"
}

func (h *Handler) dispatch(req *request, res *sigv4.Result) error {
	switch req.route.Op {
	case OpListBuckets:
		return h.listBuckets(req)
	case OpCreateBucket:
		return h.createBucket(req)
	case OpHeadBucket:
		return h.headBucket(req)
	case OpGetBucketLocation:
		return h.getBucketLocation(req)
	case OpDeleteBucket:
		return h.deleteBucket(req)
	case OpListObjects:
		return h.listObjects(req)
	case OpListObjectsV2:
		return h.listObjectsV2(req)
	case OpPutObject:
		return h.putObject(req, res)
	case OpGetObject, OpHeadObject:
		return h.getObject(req)
	case OpDeleteObject:
		return h.deleteObject(req)
	}
	// Multipart uploads, copies and object attributes (multipart.go).
	if handled, err := h.dispatchData(req, res); handled {
		return err
	}
	// Versioning, tagging, CORS, ACLs, ownership controls, bucket
	// policies, website configuration, POST Object, batch delete and the
	// not-configured answers (routed in unsupported.go).
	if fn, ok := featureHandlers[req.route.Op]; ok {
		return fn(h, req)
	}
	return unsupported(req.r, req.route.Query)
}

// metaCtx bounds one metadata call.
func (h *Handler) metaCtx(req *request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(req.r.Context(), h.cfg.MetadataTimeout)
}

// writeError renders e as S3's XML error document (no body for HEAD). A
// server-side error is logged with its request id.
func (h *Handler) writeError(req *request, e *Error) {
	if req.w.wroteHeader {
		return
	}
	hdr := req.w.Header()
	hdr.Set("Content-Type", "application/xml")
	if e.Allow != "" {
		hdr.Set("Allow", e.Allow)
	}
	if req.r.Method == http.MethodHead || e.HTTPStatus == http.StatusNotModified {
		req.w.WriteHeader(e.HTTPStatus)
		return
	}
	body := errorResponse{
		Code:      e.Code,
		Message:   e.Message,
		Fields:    e.Fields,
		Resource:  req.r.URL.Path,
		RequestID: req.id,
		HostID:    hdr.Get("x-amz-id-2"),
	}.marshal()
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	req.w.WriteHeader(e.HTTPStatus)
	_, _ = req.w.Write(body)
}

// writeXML sends a 200 response with an XML document.
func (h *Handler) writeXML(req *request, v any) error {
	body, err := marshalXML(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	hdr := req.w.Header()
	hdr.Set("Content-Type", "application/xml")
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	req.w.WriteHeader(http.StatusOK)
	_, _ = req.w.Write(body)
	return nil
}

// maxHeaderSection is AWS's limit on the size of a request's header section.
const maxHeaderSection = 8 << 10

// checkHeaderSection refuses a request whose header lines ("Name: value"
// plus CRLF, Host included) add up to more than S3 accepts.
func checkHeaderSection(r *http.Request) *Error {
	n := len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	if n <= maxHeaderSection {
		return nil
	}
	return newError(ErrRequestHeaderSectionTooLarge, "").With("MaxSizeAllowed", strconv.Itoa(maxHeaderSection))
}
