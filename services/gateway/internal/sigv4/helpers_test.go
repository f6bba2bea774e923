package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAKID   = "AKIDANVILTEST"
	testSecret = "s3cr3t/with+odd=chars"
	testRegion = "us-east-1"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testVerifier(now time.Time) *Verifier {
	return &Verifier{
		Credentials: func(id string) (string, bool) {
			if id == testAKID {
				return testSecret, true
			}
			return "", false
		},
		Region:  testRegion,
		Service: "s3",
		Now:     func() time.Time { return now },
		MaxSkew: 15 * time.Minute,
	}
}

func testCreds() aws.Credentials {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
}

// sdkSigner is the aws-sdk-go-v2 signer configured the way its S3 client
// configures it: S3 paths are not escaped a second time.
func sdkSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// toServer serialises a client request and parses it back the way Go's
// HTTP server does, so Verify sees what a real handler would.
func toServer(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("write request: %v", err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("read request: %v", err)
	}
	return sr
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want *Error %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if e.HTTPStatus < 400 || e.HTTPStatus > 599 {
		t.Fatalf("status = %d for %s", e.HTTPStatus, e.Code)
	}
	if strings.Contains(e.Message, testSecret) {
		t.Fatalf("message leaks the secret: %s", e.Message)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// seedSignature extracts Signature= from an Authorization header.
func seedSignature(t testing.TB, authz string) string {
	t.Helper()
	_, sig, ok := strings.Cut(authz, "Signature=")
	if !ok || len(sig) != 64 {
		t.Fatalf("no signature in %q", authz)
	}
	return sig
}

// chunkSigner is the test's own aws-chunked encoder, written from the AWS
// documentation independently of the reader under test.
type chunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    string
}

func newChunkSigner(secret string, t time.Time, region, seed string) *chunkSigner {
	mac := func(k []byte, s string) []byte {
		h := hmac.New(sha256.New, k)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	day := t.UTC().Format("20060102")
	key := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), "s3"), "aws4_request")
	return &chunkSigner{key: key, amzDate: t.UTC().Format("20060102T150405Z"), scope: day + "/" + region + "/s3/aws4_request", prev: seed}
}

func (c *chunkSigner) sign(kind, last string) string {
	h := hmac.New(sha256.New, c.key)
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s", kind, c.amzDate, c.scope, c.prev, last)
	c.prev = hex.EncodeToString(h.Sum(nil))
	return c.prev
}

// encode frames chunks (the final empty chunk is added) and, when trailers
// is non-nil, a trailer section signed with the chain.
func (c *chunkSigner) encode(chunks [][]byte, trailers []string) []byte {
	var b bytes.Buffer
	for _, ch := range append(append([][]byte{}, chunks...), nil) {
		sig := c.sign("AWS4-HMAC-SHA256-PAYLOAD", sha256Hex(nil)+"\n"+sha256Hex(ch))
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(ch), sig)
		if len(ch) > 0 {
			b.Write(ch)
			b.WriteString("\r\n")
		}
	}
	if trailers == nil {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var canon strings.Builder
	for _, tr := range trailers {
		canon.WriteString(tr + "\n")
		b.WriteString(tr + "\r\n")
	}
	sig := c.sign("AWS4-HMAC-SHA256-TRAILER", sha256Hex([]byte(canon.String())))
	b.WriteString("x-amz-trailer-signature:" + sig + "\r\n\r\n")
	return b.Bytes()
}

// encodeUnsigned frames chunks the way aws-sdk-go-v2 does for
// STREAMING-UNSIGNED-PAYLOAD-TRAILER.
func encodeUnsigned(chunks [][]byte, trailers []string) []byte {
	var b bytes.Buffer
	for _, ch := range chunks {
		fmt.Fprintf(&b, "%x\r\n", len(ch))
		b.Write(ch)
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\n")
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// readCounting reads r to the end in small steps and returns what it got
// before the error.
func readCounting(r io.Reader) ([]byte, error) {
	var out []byte
	p := make([]byte, 1000)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err != nil {
			return out, err
		}
	}
}
