package s3_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// rawRequest builds an unsigned request, as browsers send preflights.
func (e *testEnv) rawRequest(t *testing.T, method, target string, hdr http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return req
}

func TestBucketCors(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "web")
	ctx := ctxT(t)
	_, err := e.client.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("web")})
	wantAPIError(t, err, "NoSuchCORSConfiguration", 404)

	preflight := func(origin, method, headers string) *http.Response {
		t.Helper()
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		if method != "" {
			hdr.Set("Access-Control-Request-Method", method)
		}
		if headers != "" {
			hdr.Set("Access-Control-Request-Headers", headers)
		}
		resp, _ := do(t, e.rawRequest(t, "OPTIONS", "/web/some/key", hdr))
		return resp
	}
	t.Run("preflight without configuration", func(t *testing.T) {
		hdr := http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"GET"}}
		resp, body := do(t, e.rawRequest(t, "OPTIONS", "/web/k", hdr))
		checkXMLError(t, resp, body, 403, "AccessForbidden")
	})

	_, err = e.client.PutBucketCors(ctx, &awss3.PutBucketCorsInput{
		Bucket: aws.String("web"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{
			{
				ID:             aws.String("app"),
				AllowedOrigins: []string{"https://*.example.com"},
				AllowedMethods: []string{"GET", "PUT", "HEAD"},
				AllowedHeaders: []string{"x-amz-*", "content-type"},
				ExposeHeaders:  []string{"ETag", "x-amz-version-id"},
				MaxAgeSeconds:  aws.Int32(300),
			},
			{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("web")})
	if err != nil || len(got.CORSRules) != 2 {
		t.Fatalf("get cors: %+v %v", got, err)
	}
	r := got.CORSRules[0]
	if aws.ToString(r.ID) != "app" || len(r.AllowedMethods) != 3 || aws.ToInt32(r.MaxAgeSeconds) != 300 || len(r.ExposeHeaders) != 2 || r.AllowedOrigins[0] != "https://*.example.com" {
		t.Fatalf("rule round trip: %+v", r)
	}

	t.Run("preflight", func(t *testing.T) {
		tests := []struct {
			name                            string
			origin, method, headers         string
			status                          int
			allowOrigin, allowHeaders, cred string
		}{
			{"allowed", "https://app.example.com", "PUT", "X-Amz-Date, Content-Type", 200, "https://app.example.com", "x-amz-date, content-type", "true"},
			{"wildcard rule", "https://other.test", "GET", "", 200, "*", "", ""},
			{"method not allowed", "https://app.example.com", "DELETE", "", 403, "", "", ""},
			{"header not allowed", "https://app.example.com", "PUT", "authorization", 403, "", "", ""},
			{"origin not allowed for put", "https://other.test", "PUT", "", 403, "", "", ""},
			{"no origin", "", "GET", "", 400, "", "", ""},
			{"bad method", "https://app.example.com", "PATCH", "", 400, "", "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := preflight(tt.origin, tt.method, tt.headers)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
					t.Fatalf("allow origin %q, want %q", got, tt.allowOrigin)
				}
				if got := resp.Header.Get("Access-Control-Allow-Headers"); got != tt.allowHeaders {
					t.Fatalf("allow headers %q, want %q", got, tt.allowHeaders)
				}
				if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != tt.cred {
					t.Fatalf("allow credentials %q, want %q", got, tt.cred)
				}
				if tt.status == 200 && tt.allowOrigin != "*" {
					if resp.Header.Get("Access-Control-Allow-Methods") != "GET, PUT, HEAD" || resp.Header.Get("Access-Control-Max-Age") != "300" {
						t.Fatalf("headers %v", resp.Header)
					}
				}
			})
		}
	})

	t.Run("actual requests", func(t *testing.T) {
		e.put(t, "web", "page", []byte("<html/>"))
		hdr := http.Header{"Origin": {"https://app.example.com"}}
		resp, _ := do(t, e.signedRequest(t, "GET", "/web/page", nil, hdr, ""))
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			resp.Header.Get("Access-Control-Expose-Headers") != "ETag, x-amz-version-id" {
			t.Fatalf("get with origin: %d %v", resp.StatusCode, resp.Header)
		}
		// Errors carry the CORS headers too, so browsers can read them.
		resp, _ = do(t, e.signedRequest(t, "GET", "/web/missing", nil, hdr, ""))
		if resp.StatusCode != 404 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatalf("error with origin: %d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = do(t, e.signedRequest(t, "DELETE", "/web/page", nil, hdr, ""))
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("disallowed method got CORS headers: %d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = do(t, e.signedRequest(t, "GET", "/web/missing", nil, nil, ""))
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("CORS headers without an Origin")
		}
	})

	// A plain request carrying Access-Control-Request-Method is matched on
	// that method and Access-Control-Request-Headers, as S3 does.
	t.Run("actual requests with preflight headers", func(t *testing.T) {
		e.put(t, "web", "page", []byte("<html/>"))
		tests := []struct {
			name, method, reqMethod, reqHeaders string
			allowOrigin, cred, expose, allowHdr string
		}{
			{"get matched as put, header refused", "GET", "PUT", "authorization", "", "", "", ""},
			{"get matched as delete", "GET", "DELETE", "", "", "", "", ""},
			{"put matched as get", "PUT", "GET", "", "https://app.example.com", "true", "ETag, x-amz-version-id", ""},
			{"delete matched as put", "DELETE", "PUT", "X-Amz-Date", "https://app.example.com", "true", "ETag, x-amz-version-id", "x-amz-date"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hdr := http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {tt.reqMethod}}
				if tt.reqHeaders != "" {
					hdr.Set("Access-Control-Request-Headers", tt.reqHeaders)
				}
				var body []byte
				if tt.method == "PUT" {
					body = []byte("<html/>")
				}
				resp, _ := do(t, e.signedRequest(t, tt.method, "/web/page", body, hdr, ""))
				if resp.StatusCode >= 300 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != tt.allowOrigin ||
					resp.Header.Get("Access-Control-Allow-Credentials") != tt.cred ||
					resp.Header.Get("Access-Control-Expose-Headers") != tt.expose ||
					resp.Header.Get("Access-Control-Allow-Headers") != tt.allowHdr {
					t.Fatalf("headers %v", resp.Header)
				}
			})
		}
	})

	t.Run("invalid configurations", func(t *testing.T) {
		_, err := e.client.PutBucketCors(ctx, &awss3.PutBucketCorsInput{
			Bucket:            aws.String("web"),
			CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}}},
		})
		wantAPIError(t, err, "InvalidRequest", 400)
		resp, body := do(t, e.signedRequest(t, "PUT", "/web?cors", []byte("<CORSConfiguration><CORSRule>"), nil, ""))
		checkXMLError(t, resp, body, 400, "MalformedXML")
		got, err := e.client.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("web")})
		if err != nil || len(got.CORSRules) != 2 {
			t.Fatalf("a refused configuration changed the stored one: %+v %v", got, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := e.client.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: aws.String("web")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.GetBucketCors(ctx, &awss3.GetBucketCorsInput{Bucket: aws.String("web")})
		wantAPIError(t, err, "NoSuchCORSConfiguration", 404)
		if resp := preflight("https://app.example.com", "GET", ""); resp.StatusCode != 403 {
			t.Fatalf("preflight after delete: %d", resp.StatusCode)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		hdr := http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"GET"}}
		resp, body := do(t, e.rawRequest(t, "OPTIONS", "/nobucket/k", hdr))
		checkXMLError(t, resp, body, 404, "NoSuchBucket")
	})
}
