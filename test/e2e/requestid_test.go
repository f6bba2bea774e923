package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRequestIDFollowsRequest: the x-amz-request-id of a PUT names the log
// lines it caused in the gateway, the metadata service and the storage nodes
// that took its shards.
func TestRequestIDFollowsRequest(t *testing.T) {
	c := rootClient()
	bucket := newBucket(t, c)
	out, err := c.PutObject(ctx(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("traced"), Body: bytes.NewReader(payload(7, 1<<20)),
	})
	if err != nil {
		t.Fatal(err)
	}
	id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if !ok || id == "" {
		t.Fatal("the PUT response has no x-amz-request-id")
	}

	// methods[role] collects the gRPC methods each role logged for the id.
	methods := map[string][]string{}
	for _, p := range cluster.Processes() {
		for _, line := range logLinesWithID(t, p.LogFile, id) {
			m, _ := line["method"].(string)
			if m == "" {
				m, _ = line["msg"].(string)
			}
			methods[p.Role] = append(methods[p.Role], m)
		}
	}
	t.Logf("request %s in the logs: %v", id, methods)
	if len(methods["gateway"]) == 0 {
		t.Errorf("no gateway log line names request %s", id)
	}
	if len(methods["metadata"]) == 0 {
		t.Errorf("no metadata log line names request %s", id)
	}
	// 4+2 erasure coding: the object's shards went to six storage nodes.
	nodes := 0
	for _, p := range cluster.Processes() {
		if p.Role == "storagenode" && len(logLinesWithID(t, p.LogFile, id)) > 0 {
			nodes++
		}
	}
	if nodes < 6 {
		t.Errorf("%d storage nodes logged request %s, want 6 (one per shard)", nodes, id)
	}
}

// logLinesWithID returns the JSON log lines of path whose request_id is id.
func logLinesWithID(t *testing.T, path, id string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(id)) {
			continue
		}
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["request_id"] == id {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
