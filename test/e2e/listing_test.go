package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// listModel is what S3 must return for prefix/delimiter over keys: the keys
// and the common prefixes, merged in byte order.
func listModel(keys []string, prefix, delim string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if !seen[cp] {
					seen[cp] = true
					out = append(out, cp+" (prefix)")
				}
				continue
			}
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.TrimSuffix(out[i], " (prefix)") < strings.TrimSuffix(out[j], " (prefix)")
	})
	return out
}

func listV2All(t *testing.T, c *s3.Client, bucket, prefix, delim string, pageSize int32) []string {
	t.Helper()
	var out []string
	var token *string
	for page := 0; ; page++ {
		in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, MaxKeys: aws.Int32(pageSize), ContinuationToken: token}
		if delim != "" {
			in.Delimiter = &delim
		}
		resp, err := c.ListObjectsV2(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.Contents) + len(resp.CommonPrefixes); n > int(pageSize) || int(aws.ToInt32(resp.KeyCount)) != n {
			t.Fatalf("page %d: %d entries, KeyCount %d, max %d", page, n, aws.ToInt32(resp.KeyCount), pageSize)
		}
		var pageOut []string
		for _, o := range resp.Contents {
			pageOut = append(pageOut, aws.ToString(o.Key))
		}
		for _, p := range resp.CommonPrefixes {
			pageOut = append(pageOut, aws.ToString(p.Prefix)+" (prefix)")
		}
		sort.Slice(pageOut, func(i, j int) bool {
			return strings.TrimSuffix(pageOut[i], " (prefix)") < strings.TrimSuffix(pageOut[j], " (prefix)")
		})
		out = append(out, pageOut...)
		if !aws.ToBool(resp.IsTruncated) {
			return out
		}
		token = resp.NextContinuationToken
		if token == nil {
			t.Fatal("truncated page without a continuation token")
		}
	}
}

func listV1All(t *testing.T, c *s3.Client, bucket, prefix, delim string, pageSize int32) []string {
	t.Helper()
	var out []string
	var marker *string
	for {
		in := &s3.ListObjectsInput{Bucket: &bucket, Prefix: &prefix, MaxKeys: aws.Int32(pageSize), Marker: marker}
		if delim != "" {
			in.Delimiter = &delim
		}
		resp, err := c.ListObjects(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		var pageOut []string
		last := ""
		for _, o := range resp.Contents {
			pageOut = append(pageOut, aws.ToString(o.Key))
			last = max(last, aws.ToString(o.Key))
		}
		for _, p := range resp.CommonPrefixes {
			pageOut = append(pageOut, aws.ToString(p.Prefix)+" (prefix)")
			last = max(last, aws.ToString(p.Prefix))
		}
		sort.Slice(pageOut, func(i, j int) bool {
			return strings.TrimSuffix(pageOut[i], " (prefix)") < strings.TrimSuffix(pageOut[j], " (prefix)")
		})
		out = append(out, pageOut...)
		if !aws.ToBool(resp.IsTruncated) {
			return out
		}
		next := aws.ToString(resp.NextMarker)
		if next == "" { // without a delimiter S3 leaves NextMarker out: use the last key
			next = last
		}
		marker = &next
	}
}

func TestListing10000Keys(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	var keys []string
	for d := range 10 {
		for s := range 10 {
			for f := range 100 {
				keys = append(keys, fmt.Sprintf("d%02d/s%02d/f%03d.txt", d, s, f))
			}
		}
	}
	keys = append(keys, "top-level", "d05/direct", "d05/s03/") // odd shapes between the nested ones
	// Empty objects: listing is a metadata property, and empty objects keep
	// the 10,000 PUTs quick.
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, 1)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if _, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader("")}); err != nil {
					select {
					case errs <- fmt.Errorf("put %s: %w", k, err):
					default:
					}
				}
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	slices.Sort(keys)

	cases := []struct {
		prefix, delim string
		pageSize      int32
	}{
		{"", "", 1000},
		{"", "", 777},
		{"", "/", 1000},
		{"", "/", 3},
		{"d05/", "/", 4},
		{"d05/s03/", "/", 7},
		{"d0", "/", 1000},
		{"d09/s09/f09", "", 1},
		{"d", "s0", 5},
		{"nothing-here/", "/", 10},
	}
	for _, tc := range cases {
		want := listModel(keys, tc.prefix, tc.delim)
		name := fmt.Sprintf("prefix=%q delim=%q page=%d", tc.prefix, tc.delim, tc.pageSize)
		t.Run("v2 "+name, func(t *testing.T) {
			got := listV2All(t, c, bucket, tc.prefix, tc.delim, tc.pageSize)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d entries, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
		})
		t.Run("v1 "+name, func(t *testing.T) {
			got := listV1All(t, c, bucket, tc.prefix, tc.delim, tc.pageSize)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d entries, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
		})
	}
	t.Run("start-after", func(t *testing.T) {
		resp, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &bucket, StartAfter: aws.String("d09/s09/f097.txt")})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range resp.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		want := []string{"d09/s09/f098.txt", "d09/s09/f099.txt", "top-level"}
		if !slices.Equal(got, want) {
			t.Fatalf("start-after: %v", got)
		}
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
