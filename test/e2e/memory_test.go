package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// peakRSS reads a process's resident-set high-water mark in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// A 1 GiB PUT and GET through a fresh gateway keep its peak resident memory
// under 256 MiB: the data path streams, it never buffers an object.
func TestGatewayMemoryBoundedFor1GiB(t *testing.T) {
	const size = 1 << 30
	url, err := cluster.StartGateway(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	gw := cluster.Processes()[len(cluster.Processes())-1]
	t.Cleanup(func() { _ = cluster.Kill(gw.ID) })
	bucket := newBucket(t, rootClient())
	objURL := url + "/" + bucket + "/big"

	sent := md5.New()
	req := signedRequest(t, http.MethodPut, objURL, io.TeeReader(streamOf(11, size), sent), size)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT 1 GiB: %d %s", resp.StatusCode, msg)
	}
	wantMD5 := hex.EncodeToString(sent.Sum(nil))
	if etag := strings.Trim(resp.Header.Get("ETag"), `"`); etag != wantMD5 {
		t.Fatalf("ETag %s, want %s", etag, wantMD5)
	}

	resp, err = http.DefaultClient.Do(signedRequest(t, http.MethodGet, objURL, nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	got := md5.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("GET 1 GiB: %d bytes, %v", n, err)
	}
	if hex.EncodeToString(got.Sum(nil)) != wantMD5 {
		t.Fatal("GET 1 GiB: bytes differ from those written")
	}
	peak := peakRSS(t, gw.PID)
	t.Logf("gateway peak RSS over a 1 GiB PUT and GET: %.1f MiB", float64(peak)/(1<<20))
	if peak > 256<<20 {
		t.Fatalf("gateway peak RSS %.1f MiB exceeds 256 MiB", float64(peak)/(1<<20))
	}
}
