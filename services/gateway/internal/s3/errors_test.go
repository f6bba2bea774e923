package s3

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/anvil-store/anvil/pkg/erasure"
	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"github.com/anvil-store/anvil/services/gateway/internal/datapath"
	"github.com/anvil-store/anvil/services/gateway/internal/sigv4"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestErrorTableComplete parses this package's sources and checks that every
// code constant and every code passed to newError/errorf has a table row, and
// that every row is used somewhere (here or by the sigv4 package).
func TestErrorTableComplete(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{} // identifier -> code
	var uses []string             // identifiers or literals passed as codes
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if !strings.HasPrefix(id.Name, "Err") || i >= len(n.Values) {
						continue
					}
					if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[id.Name] = constant.StringVal(constant.MakeFromLiteral(lit.Value, lit.Kind, 0))
					}
				}
			case *ast.CallExpr:
				fn, ok := n.Fun.(*ast.Ident)
				if !ok || (fn.Name != "newError" && fn.Name != "errorf") || len(n.Args) == 0 {
					return true
				}
				switch a := n.Args[0].(type) {
				case *ast.Ident:
					uses = append(uses, a.Name)
				case *ast.BasicLit:
					uses = append(uses, "literal:"+a.Value)
				default:
					t.Errorf("%s: %s called with a non-constant code", fset.Position(n.Pos()), fn.Name)
				}
			}
			return true
		})
	}
	if len(consts) == 0 || len(uses) == 0 {
		t.Fatalf("found %d code constants and %d uses: the parser saw nothing", len(consts), len(uses))
	}
	used := map[string]bool{}
	for _, u := range uses {
		if strings.HasPrefix(u, "literal:") {
			t.Errorf("newError called with literal %s: use a constant", u)
			continue
		}
		code, ok := consts[u]
		if !ok {
			if u == "code" { // newError's own parameter inside errorf
				continue
			}
			t.Errorf("code identifier %s is not an Err constant", u)
			continue
		}
		used[code] = true
	}
	for id, code := range consts {
		row, ok := errorTable[code]
		if !ok {
			t.Errorf("%s = %q has no table row", id, code)
			continue
		}
		if row.HTTPStatus < 300 || row.HTTPStatus > 599 || row.Message == "" {
			t.Errorf("row %s: bad status %d or empty message", code, row.HTTPStatus)
		}
	}
	for _, code := range sigv4.Codes() {
		if _, ok := errorTable[code]; !ok {
			t.Errorf("sigv4 code %s has no table row", code)
		}
		used[code] = true
	}
	// Codes reached through fromStatus and toS3Error's mappings are used
	// via newError above; anything else in the table is dead.
	for code := range errorTable {
		if !used[code] {
			t.Errorf("table row %s is never returned", code)
		}
	}
}

func statusWithReason(c codes.Code, reason string) error {
	st, err := status.New(c, "x").WithDetails(&errdetails.ErrorInfo{Reason: reason})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func TestToS3Error(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"s3 error passes", newError(ErrNoSuchKey, ""), ErrNoSuchKey, 404},
		{"no such bucket", statusWithReason(codes.NotFound, metadatav1.Reason_REASON_NO_SUCH_BUCKET.String()), ErrNoSuchBucket, 404},
		{"no such key wrapped", fmt.Errorf("get object: %w", statusWithReason(codes.NotFound, "REASON_NO_SUCH_KEY")), ErrNoSuchKey, 404},
		{"reason without prefix", statusWithReason(codes.NotFound, "NO_SUCH_KEY"), ErrNoSuchKey, 404},
		{"no such version", statusWithReason(codes.NotFound, "REASON_NO_SUCH_VERSION"), ErrNoSuchVersion, 404},
		{"already exists", statusWithReason(codes.AlreadyExists, "REASON_BUCKET_ALREADY_EXISTS"), ErrBucketAlreadyOwnedByYou, 409},
		{"not empty", statusWithReason(codes.FailedPrecondition, "BUCKET_NOT_EMPTY"), ErrBucketNotEmpty, 409},
		{"no such region", statusWithReason(codes.InvalidArgument, "REASON_NO_SUCH_REGION"), ErrInvalidLocationConstraint, 400},
		{"unavailable", status.Error(codes.Unavailable, "down"), ErrServiceUnavailable, 503},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), ErrServiceUnavailable, 503},
		{"other status", status.Error(codes.Internal, "boom"), ErrInternalError, 500},
		{"unknown reason", statusWithReason(codes.NotFound, "REASON_SOMETHING_ELSE"), ErrInternalError, 500},
		{"ctx deadline", context.DeadlineExceeded, ErrServiceUnavailable, 503},
		{"plain error", errors.New("boom"), ErrInternalError, 500},
		{"sigv4", &sigv4.Error{Code: "SignatureDoesNotMatch", Message: "m", HTTPStatus: 403}, ErrSignatureDoesNotMatch, 403},
		{"sigv4 in body error", &datapath.BodyError{Err: &sigv4.Error{Code: "XAmzContentSHA256Mismatch", Message: "m", HTTPStatus: 400}}, ErrXAmzContentSHA256Mismatch, 400},
		{"sigv4 unknown code", &sigv4.Error{Code: "Weird", Message: "m", HTTPStatus: 418}, "Weird", 418},
		{"unavailable data path", &datapath.UnavailableError{Message: "need 6 storage nodes, 4 live"}, ErrServiceUnavailable, 503},
		{"write quorum", fmt.Errorf("x: %w", &datapath.UnavailableError{Message: "m", Err: erasure.ErrWriteQuorum}), ErrServiceUnavailable, 503},
		{"bad digest", datapath.ErrBadDigest, ErrBadDigest, 400},
		{"short body", &datapath.BodyError{Err: io.ErrUnexpectedEOF}, ErrIncompleteBody, 400},
		{"long body", &datapath.BodyError{Err: datapath.ErrBodyTooLong}, ErrInvalidRequest, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := toS3Error(tt.err)
			if e.Code != tt.code || e.HTTPStatus != tt.status {
				t.Fatalf("toS3Error(%v) = %s %d, want %s %d", tt.err, e.Code, e.HTTPStatus, tt.code, tt.status)
			}
			if e.Message == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestUnavailableMessageReachesClient(t *testing.T) {
	e := toS3Error(&datapath.UnavailableError{Message: "need 6 storage nodes, 4 live", Err: errors.New("10.0.0.1:7000 refused")})
	if e.Message != "need 6 storage nodes, 4 live" {
		t.Fatalf("message = %q", e.Message)
	}
}

func TestNewErrorUnknownCode(t *testing.T) {
	e := newError("NoSuchThing", "")
	if e.Code != ErrInternalError || e.HTTPStatus != http.StatusInternalServerError {
		t.Fatalf("newError(unknown) = %+v", e)
	}
	if strconv.Itoa(e.HTTPStatus) != "500" {
		t.Fatal("status")
	}
}
