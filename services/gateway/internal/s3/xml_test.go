package s3

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestErrorDocument(t *testing.T) {
	tests := []struct {
		name string
		e    errorResponse
		want string
	}{
		{
			"plain",
			errorResponse{Code: "NoSuchKey", Message: "The specified key does not exist.", Resource: "/b/k", RequestID: "RID", HostID: "HID"},
			`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/k</Resource><RequestId>RID</RequestId><HostId>HID</HostId></Error>`,
		},
		{
			// Quotes stay literal (valid in element text), as AWS sends them.
			"escapes",
			errorResponse{Code: "AccessDenied", Message: "a<b>&\"c\"\r\x00", RequestID: "R", HostID: "H"},
			"<Error><Code>AccessDenied</Code><Message>a&lt;b&gt;&amp;\"c\"&#xD;\uFFFD</Message><RequestId>R</RequestId><HostId>H</HostId></Error>",
		},
		{
			"extra elements",
			errorResponse{Code: "InvalidAccessKeyId", Message: "m", Fields: []ErrorField{{Name: "AWSAccessKeyId", Value: "AK<1>"}}, Resource: "/b", RequestID: "R", HostID: "H"},
			`<Error><Code>InvalidAccessKeyId</Code><Message>m</Message><AWSAccessKeyId>AK&lt;1&gt;</AWSAccessKeyId><Resource>/b</Resource><RequestId>R</RequestId><HostId>H</HostId></Error>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.e.marshal())
			if got != xml.Header+tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, xml.Header+tt.want)
			}
			// Whatever the text, the document parses back to it.
			var back struct{ Code, Message string }
			if err := xml.Unmarshal([]byte(got), &back); err != nil || back.Code != tt.e.Code {
				t.Fatalf("parse back: %v %+v", err, back)
			}
		})
	}
}

func TestXMLEncodings(t *testing.T) {
	ts := time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC)
	own := owner{ID: "abc", DisplayName: "anvil"}
	var buckets listAllMyBucketsResult
	buckets.Owner = own
	buckets.Buckets.Bucket = []bucketEntry{{Name: "photos", CreationDate: xmlTime(ts), BucketRegion: "us-east-1"}}
	var empty listAllMyBucketsResult
	empty.Owner = own

	tests := []struct {
		name string
		v    any
		want string
	}{
		{
			"list buckets",
			buckets,
			`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>abc</ID><DisplayName>anvil</DisplayName></Owner>` +
				`<Buckets><Bucket><Name>photos</Name><CreationDate>2024-03-05T07:08:09.123Z</CreationDate><BucketRegion>us-east-1</BucketRegion></Bucket></Buckets></ListAllMyBucketsResult>`,
		},
		{
			"list no buckets",
			empty,
			`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>abc</ID><DisplayName>anvil</DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>`,
		},
		{
			"location us-east-1",
			locationConstraint{},
			`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`,
		},
		{
			"location eu",
			locationConstraint{Location: "eu-west-1"},
			`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>`,
		},
		{
			"list v1",
			listBucketResult{
				Name: "b", Prefix: "p/", Marker: "m", NextMarker: "p/z/", MaxKeys: 2, Delimiter: "/", IsTruncated: true,
				Contents:       []objectEntry{{Key: "p/a", LastModified: xmlTime(ts), ETag: `"e1"`, Size: 3, Owner: &own, StorageClass: "STANDARD"}},
				CommonPrefixes: []commonPrefix{{Prefix: "p/z/"}},
			},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><Marker>m</Marker><NextMarker>p/z/</NextMarker>` +
				`<MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>` +
				`<Contents><Key>p/a</Key><LastModified>2024-03-05T07:08:09.123Z</LastModified><ETag>&#34;e1&#34;</ETag><Size>3</Size>` +
				`<Owner><ID>abc</ID><DisplayName>anvil</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>` +
				`<CommonPrefixes><Prefix>p/z/</Prefix></CommonPrefixes></ListBucketResult>`,
		},
		{
			"list v1 empty",
			listBucketResult{Name: "b", MaxKeys: 1000},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`,
		},
		{
			"list v2",
			listBucketResultV2{
				Name: "b", Prefix: "a+b/", StartAfter: "s", ContinuationToken: "t1", NextContinuationToken: "t2",
				KeyCount: 1, MaxKeys: 1, IsTruncated: true, EncodingType: "url",
				Contents: []objectEntry{{Key: "a+b/c", LastModified: xmlTime(ts), ETag: `"e"`, Size: 0, StorageClass: "STANDARD"}},
			},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>a+b/</Prefix><StartAfter>s</StartAfter>` +
				`<ContinuationToken>t1</ContinuationToken><NextContinuationToken>t2</NextContinuationToken><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys>` +
				`<IsTruncated>true</IsTruncated><Contents><Key>a+b/c</Key><LastModified>2024-03-05T07:08:09.123Z</LastModified><ETag>&#34;e&#34;</ETag>` +
				`<Size>0</Size><StorageClass>STANDARD</StorageClass></Contents><EncodingType>url</EncodingType></ListBucketResult>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := marshalXML(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			want := xml.Header + tt.want
			if string(got) != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestCreateBucketConfigurationParse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
		ok   bool
	}{
		{"aws namespace", `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`, "eu-west-1", true},
		{"no namespace", `<CreateBucketConfiguration><LocationConstraint>dc1</LocationConstraint></CreateBucketConfiguration>`, "dc1", true},
		{"empty element", `<CreateBucketConfiguration/>`, "", true},
		{"wrong root", `<Foo><LocationConstraint>x</LocationConstraint></Foo>`, "", false},
		{"not xml", `{"LocationConstraint": "x"}`, "", false},
		{"truncated", `<CreateBucketConfiguration><LocationConstraint>x`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg createBucketConfiguration
			err := xml.Unmarshal([]byte(tt.body), &cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && cfg.LocationConstraint != tt.want {
				t.Fatalf("location = %q, want %q", cfg.LocationConstraint, tt.want)
			}
		})
	}
}

func TestXMLTimeIsUTCMillis(t *testing.T) {
	loc := time.FixedZone("x", 3*3600)
	got := xmlTime(time.Date(2024, 1, 2, 3, 4, 5, 6e6, loc))
	if got != "2024-01-02T00:04:05.006Z" || !strings.HasSuffix(got, "Z") {
		t.Fatalf("xmlTime = %q", got)
	}
}

// TestListedUserMetadata: entries become <X-Amz-Meta-Name> elements in name
// order with escaped values; a name that is no XML name is left out.
func TestListedUserMetadata(t *testing.T) {
	md := listedUserMetadata{"b": "2", "a": "<&>", "we#ird": "x"}
	out, err := xml.Marshal(objectEntry{Key: "k", UserMetadata: &md})
	if err != nil {
		t.Fatal(err)
	}
	want := "<UserMetadata><X-Amz-Meta-A>&lt;&amp;&gt;</X-Amz-Meta-A><X-Amz-Meta-B>2</X-Amz-Meta-B></UserMetadata>"
	if !strings.Contains(string(out), want) {
		t.Fatalf("got %s, want it to contain %s", out, want)
	}
	out, err = xml.Marshal(objectEntry{Key: "k"})
	if err != nil || strings.Contains(string(out), "UserMetadata") {
		t.Fatalf("entry without metadata: %s %v", out, err)
	}
}
