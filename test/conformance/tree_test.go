package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// treeFiles is the number of files in the tree every tool syncs.
const treeFiles = 1000

// bigFiles are above the 5 MiB multipart thresholds the tools are given.
var bigFiles = map[string]int{
	"big/six-mib.bin":     6 << 20,
	"big/nine-mib.bin":    9<<20 + 123,
	"big/twelve-mib.bin":  12<<20 + 7,
	"mid/one-kib.bin":     1 << 10,
	"mid/hundred-kib.bin": 100 << 10,
	"mid/one-mib.bin":     1 << 20,
	"mid/almost-5mib.bin": 5<<20 - 1,
	"mid/empty":           0,
}

// oddNames exercise URL and signature encoding of keys.
var oddNames = []string{
	"odd/with space.txt",
	"odd/plus+sign.txt",
	"odd/equals=sign&amp.txt",
	"odd/ünïcödé-名前.txt",
	"odd/(parens) [brackets].txt",
	"odd/tilde~and,comma.txt",
	"odd/dollar$and@at.txt",
	"odd/nested/deeper/still/file.txt",
}

// makeTree writes a deterministic tree of treeFiles files under dir: mostly
// tiny files in nested directories, a few odd names, and a few files above
// the multipart thresholds. It returns the sha256 of every file by its
// slash-separated relative path.
func makeTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	sizes := map[string]int{}
	for name, size := range bigFiles {
		sizes[name] = size
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range oddNames {
		sizes[name] = rng.IntN(2048)
	}
	for i := 0; len(sizes) < treeFiles; i++ {
		name := fmt.Sprintf("small/d%02d/s%d/file-%04d.txt", i%20, i%5, i)
		sizes[name] = rng.IntN(8 << 10)
	}
	sums := map[string]string{}
	for name, size := range sizes {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		seed := sha256.Sum256([]byte(name))
		if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rand.NewChaCha8(seed), int64(size))); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		sums[name] = hex.EncodeToString(h.Sum(nil))
	}
	return sums
}

// treeSums returns the sha256 of every regular file under dir by its
// slash-separated relative path.
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", dir, err)
	}
	return sums
}

// compareTrees fails t when got differs from want, naming a few of the
// missing, extra and changed files.
func compareTrees(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var missing, extra, changed []string
	for name, sum := range want {
		switch g, ok := got[name]; {
		case !ok:
			missing = append(missing, name)
		case g != sum:
			changed = append(changed, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	if len(missing)+len(extra)+len(changed) == 0 {
		return
	}
	few := func(s []string) string {
		slices.Sort(s)
		if len(s) > 8 {
			return strings.Join(s[:8], ", ") + fmt.Sprintf(" and %d more", len(s)-8)
		}
		return strings.Join(s, ", ")
	}
	t.Errorf("%s: %d of %d files missing [%s], %d extra [%s], %d with other bytes [%s]", what,
		len(missing), len(want), few(missing), len(extra), few(extra), len(changed), few(changed))
}

// wantMultipart fails t unless every big file under prefix in bucket was
// stored as a multipart upload (its ETag ends in -N): the tool really took
// the multipart path.
func wantMultipart(t *testing.T, bucket, prefix string) {
	t.Helper()
	c := rootClient()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, size := range bigFiles {
		if size <= 5<<20 {
			continue
		}
		key := prefix + name
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Errorf("head %s: %v", key, err)
			continue
		}
		if etag := strings.Trim(aws.ToString(head.ETag), `"`); !strings.Contains(etag, "-") {
			t.Errorf("%s (%d bytes) was not stored by a multipart upload: ETag %s", key, size, etag)
		}
	}
}

// sourceTree builds the tree once per test in a temp dir.
func sourceTree(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	return dir, makeTree(t, dir)
}

// subTree copies the files of src whose relative paths start with one of
// prefixes into a new directory and returns it with their sums.
func subTree(t *testing.T, src string, sums map[string]string, prefixes ...string) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	part := map[string]string{}
	for name, sum := range sums {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		part[name] = sum
	}
	return dir, part
}
