package sigv4

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// fakeS3 is just enough of an S3 endpoint to drive the real SDK through
// Verify: every request is authenticated and its body read through Result.
type fakeS3 struct {
	v *Verifier

	mu       sync.Mutex
	objects  map[string][]byte
	payloads []string // x-amz-content-sha256 of each PUT
	trailers []http.Header
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := f.v.Verify(r)
	if err == nil && res.Anonymous {
		err = newError(CodeAccessDenied, "Access Denied.")
	}
	var data []byte
	if err == nil {
		data, err = io.ReadAll(res.Body)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: "InternalError", Message: err.Error(), HTTPStatus: http.StatusInternalServerError}
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.HTTPStatus)
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName xml.Name `xml:"Error"`
			Code    string
			Message string
		}{Code: e.Code, Message: e.Message})
		return
	}
	key := r.Host + r.URL.Path
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		f.objects[key] = data
		f.payloads = append(f.payloads, r.Header.Get("X-Amz-Content-Sha256"))
		f.trailers = append(f.trailers, res.Trailers())
		w.Header().Set("ETag", `"etag"`)
	case http.MethodGet, http.MethodHead:
		if r.URL.Query().Has("list-type") {
			w.Header().Set("Content-Type", "application/xml")
			_, _ = io.WriteString(w, `<ListBucketResult><Name>photos</Name><KeyCount>0</KeyCount></ListBucketResult>`)
			return
		}
		obj, ok := f.objects[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write(obj)
	case http.MethodDelete:
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	}
}

// TestRealSDKClient drives aws-sdk-go-v2's S3 client (path and virtual-host
// style, over TLS so it streams aws-chunked bodies with a crc32 trailer)
// and its presigner against Verify.
func TestRealSDKClient(t *testing.T) {
	v := testVerifier(time.Time{})
	v.Now = time.Now // the SDK signs with the real clock
	fake := &fakeS3{v: v, objects: map[string][]byte{}}
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)

	// Route every host name to the test server; its certificate covers
	// example.com and *.example.com.
	transport := srv.Client().Transport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)

	newClient := func(creds aws.Credentials, pathStyle bool) *s3.Client {
		return s3.New(s3.Options{
			Region:           testRegion,
			Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
			BaseEndpoint:     aws.String("https://example.com"),
			UsePathStyle:     pathStyle,
			HTTPClient:       httpClient,
			RetryMaxAttempts: 1,
			// What config.LoadDefaultConfig would resolve by default.
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		})
	}
	body := bytes.Repeat([]byte("real sdk payload\n"), 20000) // > 1 chunk

	for _, pathStyle := range []bool{true, false} {
		name := "virtual-host"
		if pathStyle {
			name = "path-style"
		}
		t.Run(name, func(t *testing.T) {
			client := newClient(testCreds(), pathStyle)
			for i, key := range oddKeys {
				t.Run(key, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					defer cancel()
					// A body the SDK cannot seek is sent aws-chunked with a
					// trailing checksum; a seekable one with UNSIGNED-PAYLOAD.
					var reader io.Reader = bytes.NewReader(body)
					if i%2 == 0 {
						reader = struct{ io.Reader }{reader}
					}
					if _, err := client.PutObject(ctx, &s3.PutObjectInput{
						Bucket: aws.String("photos"), Key: aws.String(key), Body: reader,
						ContentLength: aws.Int64(int64(len(body))), Metadata: map[string]string{"owner": "a  b"},
					}); err != nil {
						t.Fatalf("put: %v", err)
					}
					out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)})
					if err != nil {
						t.Fatalf("get: %v", err)
					}
					got, err := io.ReadAll(out.Body)
					_ = out.Body.Close()
					if err != nil || !bytes.Equal(got, body) {
						t.Fatalf("get returned %d bytes, %v", len(got), err)
					}
					if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
						Bucket: aws.String("photos"), Prefix: aws.String(key), Delimiter: aws.String("/"), StartAfter: aws.String("a b+c=d&e"),
					}); err != nil {
						t.Fatalf("list: %v", err)
					}

					presigned, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{
						Bucket: aws.String("photos"), Key: aws.String(key), ResponseContentType: aws.String("text/plain; charset=utf-8"),
					}, s3.WithPresignExpires(10*time.Minute))
					if err != nil {
						t.Fatalf("presign: %v", err)
					}
					req, err := http.NewRequestWithContext(ctx, presigned.Method, presigned.URL, nil)
					if err != nil {
						t.Fatalf("presigned request: %v", err)
					}
					req.Header = presigned.SignedHeader.Clone()
					resp, err := httpClient.Do(req)
					if err != nil {
						t.Fatalf("presigned get: %v", err)
					}
					got, err = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK || err != nil || !bytes.Equal(got, body) {
						t.Fatalf("presigned get: status %d, %d bytes, %v: %s", resp.StatusCode, len(got), err, truncate(string(got)))
					}

					if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)}); err != nil {
						t.Fatalf("delete: %v", err)
					}
				})
			}
		})
	}

	t.Run("uploads streamed with a verified crc32 trailer", func(t *testing.T) {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		streamed := 0
		for i, p := range fake.payloads {
			if p != streamingUnsignedTrailer {
				continue
			}
			streamed++
			if fake.trailers[i].Get("x-amz-checksum-crc32") == "" {
				t.Fatalf("upload %d trailers %v", i, fake.trailers[i])
			}
		}
		if streamed == 0 {
			t.Fatalf("no upload was streamed with a trailer: %v", fake.payloads)
		}
	})

	t.Run("wrong secret is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		client := newClient(aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "wrong"}, true)
		_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("k")})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != CodeSignatureDoesNotMatch {
			t.Fatalf("error = %v, want %s", err, CodeSignatureDoesNotMatch)
		}
	})
}
