package s3_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBucketPolicyCRUD(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createBucket(t, "pol")
	b := aws.String("pol")
	_, err := e.client.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b})
	wantAPIError(t, err, "NoSuchBucketPolicy", 404)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`
	if _, err := e.client.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b})
	if err != nil || aws.ToString(got.Policy) != doc {
		t.Fatalf("policy %q err %v", aws.ToString(got.Policy), err)
	}
	st, err := e.client.GetBucketPolicyStatus(ctx, &awss3.GetBucketPolicyStatusInput{Bucket: b})
	if err != nil || st.PolicyStatus == nil || !aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("status %+v err %v", st, err)
	}
	for _, bad := range []struct{ doc, msg string }{
		{`not json`, "Policies must be valid JSON and the first byte must be '{'"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`, "Policy has invalid resource"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Teleport","Resource":"arn:aws:s3:::pol/*"}]}`, "Policy has invalid action"},
	} {
		_, err := e.client.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(bad.doc)})
		wantAPIError(t, err, "MalformedPolicy", 400)
		if !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s: %v", bad.doc, err)
		}
	}
	if _, err := e.client.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b})
	wantAPIError(t, err, "NoSuchBucketPolicy", 404)
	_, err = e.client.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("nobucket"), Policy: aws.String(doc)})
	wantAPIError(t, err, "NoSuchBucket", 404)

	// A bucket deleted and created again has no policy.
	if _, err := e.client.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	e.createBucket(t, "pol")
	_, err = e.client.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b})
	wantAPIError(t, err, "NoSuchBucketPolicy", 404)
	if code, _ := anonymous(t, e, "GET", "/pol/x", ""); code != 403 {
		t.Fatalf("anonymous request to the new bucket: %d", code)
	}
}

// anonymous sends an unsigned request.
func anonymous(t *testing.T, e *testEnv, method, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestBucketPolicyEvaluation(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createBucket(t, "pub")
	e.put(t, "pub", "public/a.txt", []byte("hello"))
	e.put(t, "pub", "public/secret.txt", []byte("no"))
	e.put(t, "pub", "private/b.txt", []byte("x"))

	// No policy: anonymous requests are refused.
	if code, _ := anonymous(t, e, "GET", "/pub/public/a.txt", ""); code != 403 {
		t.Fatalf("anonymous GET without policy: %d", code)
	}
	doc := `{"Statement":[
		{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/public/*"]},
		{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/public/secret*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::pub/*"}]}`
	if _, err := e.client.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("pub"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, target string
		want           int
	}{
		{"GET", "/pub/public/a.txt", 200},
		{"HEAD", "/pub/public/a.txt", 200},
		{"GET", "/pub?list-type=2", 200},
		{"GET", "/pub/private/b.txt", 403},
		{"GET", "/pub/public/secret.txt", 403},
		{"PUT", "/pub/public/new.txt", 403},
		{"DELETE", "/pub/public/a.txt", 403},
		{"GET", "/pub?policy", 403},
		{"GET", "/pub/public/a.txt?response-cache-control=no-cache", 400},
		{"GET", "/", 403},
	} {
		code, body := anonymous(t, e, tt.method, tt.target, "")
		if code != tt.want {
			t.Errorf("anonymous %s %s: %d, want %d (%s)", tt.method, tt.target, code, tt.want, body)
		}
	}
	code, body := anonymous(t, e, "GET", "/pub/public/a.txt", "")
	if code != 200 || body != "hello" {
		t.Fatalf("anonymous read: %d %q", code, body)
	}
	// An explicit Deny applies to the owner too, but never to managing the policy.
	_, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pub"), Key: aws.String("public/secret.txt")})
	wantAPIError(t, err, "AccessDenied", 403)
	_, err = e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("pub"), Key: aws.String("private/b.txt")})
	wantAPIError(t, err, "AccessDenied", 403)
	if _, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pub"), Key: aws.String("private/b.txt")}); err != nil {
		t.Fatalf("owner read: %v", err)
	}
	del, err := e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("pub"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("private/b.txt")}}}})
	if err != nil || len(del.Errors) != 1 || aws.ToString(del.Errors[0].Code) != "AccessDenied" || len(del.Deleted) != 0 {
		t.Fatalf("DeleteObjects under a Deny: %+v %v", del, err)
	}
	if _, err := e.client.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: aws.String("pub")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("pub"), Key: aws.String("private/b.txt")}); err != nil {
		t.Fatalf("delete after the policy is gone: %v", err)
	}
	if code, _ := anonymous(t, e, "GET", "/pub/public/a.txt", ""); code != 403 {
		t.Fatalf("anonymous GET after the policy is gone: %d", code)
	}
	// aws:SourceIp is the client's address (the test client is 127.0.0.1).
	for cidr, want := range map[string]int{"127.0.0.0/8": 200, "10.0.0.0/8": 403} {
		doc := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*",
			"Condition":{"IpAddress":{"aws:SourceIp":"` + cidr + `"}}}]}`
		if _, err := e.client.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String("pub"), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
		if code, _ := anonymous(t, e, "GET", "/pub/public/a.txt", ""); code != want {
			t.Errorf("anonymous GET allowed from %s: %d, want %d", cidr, code, want)
		}
	}
}
