package s3_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBucketWebsite(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createBucket(t, "site")
	b := aws.String("site")
	_, err := e.client.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: b})
	wantAPIError(t, err, "NoSuchWebsiteConfiguration", 404)

	cfg := &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")},
		ErrorDocument: &types.ErrorDocument{Key: aws.String("error.html")},
		RoutingRules: []types.RoutingRule{{
			Condition: &types.Condition{KeyPrefixEquals: aws.String("docs/")},
			Redirect:  &types.Redirect{ReplaceKeyPrefixWith: aws.String("documents/"), HttpRedirectCode: aws.String("301")},
		}},
	}
	if _, err := e.client.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.IndexDocument.Suffix) != "index.html" || aws.ToString(got.ErrorDocument.Key) != "error.html" || len(got.RoutingRules) != 1 ||
		aws.ToString(got.RoutingRules[0].Redirect.ReplaceKeyPrefixWith) != "documents/" || aws.ToString(got.RoutingRules[0].Redirect.HttpRedirectCode) != "301" {
		t.Fatalf("website %+v", got)
	}
	if _, err := e.client.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: &types.WebsiteConfiguration{
		RedirectAllRequestsTo: &types.RedirectAllRequestsTo{HostName: aws.String("example.com"), Protocol: types.ProtocolHttps}}}); err != nil {
		t.Fatal(err)
	}
	got, err = e.client.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: b})
	if err != nil || got.RedirectAllRequestsTo == nil || aws.ToString(got.RedirectAllRequestsTo.HostName) != "example.com" || got.IndexDocument != nil {
		t.Fatalf("website %+v err %v", got, err)
	}

	index := &types.IndexDocument{Suffix: aws.String("index.html")}
	manyRules := make([]types.RoutingRule, 51)
	for i := range manyRules {
		manyRules[i] = types.RoutingRule{Redirect: &types.Redirect{ReplaceKeyWith: aws.String(fmt.Sprint(i))}}
	}
	for _, tt := range []struct {
		name string
		cfg  *types.WebsiteConfiguration
		code string
		msg  string
	}{
		{"empty suffix", &types.WebsiteConfiguration{IndexDocument: &types.IndexDocument{Suffix: aws.String("")}}, "InvalidArgument", "The IndexDocument Suffix is not well formed"},
		{"suffix with slash", &types.WebsiteConfiguration{IndexDocument: &types.IndexDocument{Suffix: aws.String("a/index.html")}}, "InvalidArgument", "The IndexDocument Suffix is not well formed"},
		{"empty error key", &types.WebsiteConfiguration{IndexDocument: index, ErrorDocument: &types.ErrorDocument{Key: aws.String("")}}, "InvalidArgument", "The ErrorDocument Key is not well formed"},
		{"redirect protocol", &types.WebsiteConfiguration{RedirectAllRequestsTo: &types.RedirectAllRequestsTo{HostName: aws.String("x"), Protocol: "ftp"}}, "InvalidRequest", "Invalid protocol"},
		{"redirect all with index", &types.WebsiteConfiguration{RedirectAllRequestsTo: &types.RedirectAllRequestsTo{HostName: aws.String("x")}, IndexDocument: index}, "MalformedXML", ""},
		{"empty condition", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: []types.RoutingRule{{Condition: &types.Condition{}, Redirect: &types.Redirect{HostName: aws.String("x")}}}}, "MalformedXML", ""},
		{"empty redirect", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: []types.RoutingRule{{Redirect: &types.Redirect{}}}}, "MalformedXML", ""},
		{"key and prefix", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: []types.RoutingRule{{Redirect: &types.Redirect{ReplaceKeyWith: aws.String("a"), ReplaceKeyPrefixWith: aws.String("b")}}}}, "InvalidRequest", "ReplaceKeyPrefix or ReplaceKey"},
		{"redirect code 300", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: []types.RoutingRule{{Redirect: &types.Redirect{HttpRedirectCode: aws.String("300")}}}}, "InvalidRequest", "(300) is not valid"},
		{"redirect code text", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: []types.RoutingRule{{Redirect: &types.Redirect{HttpRedirectCode: aws.String("3xx")}}}}, "MalformedXML", ""},
		{"error code 418", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: []types.RoutingRule{{Condition: &types.Condition{HttpErrorCodeReturnedEquals: aws.String("418")}, Redirect: &types.Redirect{HostName: aws.String("x")}}}}, "InvalidRequest", "(418) is not valid"},
		{"too many rules", &types.WebsiteConfiguration{IndexDocument: index, RoutingRules: manyRules}, "InvalidRequest", "51 routing rules provided"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: tt.cfg})
			wantAPIError(t, err, tt.code, 400)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message: %v", err)
			}
		})
	}
	big := `<WebsiteConfiguration><IndexDocument><Suffix>` + strings.Repeat("a", 130<<10) + `</Suffix></IndexDocument></WebsiteConfiguration>`
	resp, body := do(t, e.signedRequest(t, "PUT", "/site?website", []byte(big), nil, ""))
	checkXMLError(t, resp, body, 400, "MaxMessageLengthExceeded")

	if _, err := e.client.DeleteBucketWebsite(ctx, &awss3.DeleteBucketWebsiteInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: b})
	wantAPIError(t, err, "NoSuchWebsiteConfiguration", 404)
	_, err = e.client.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{Bucket: aws.String("nobucket"), WebsiteConfiguration: &types.WebsiteConfiguration{IndexDocument: index}})
	wantAPIError(t, err, "NoSuchBucket", 404)
}
