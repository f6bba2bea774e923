package conformance

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseVersityOutput(t *testing.T) {
	const (
		run  = "\x1b[36mRUN  \x1b[0m"
		pass = "\x1b[32mPASS \x1b[0m"
		fail = "\x1b[31mFAIL \x1b[0m"
		skip = "\x1b[33mSKIP \x1b[0m"
	)
	tests := []struct {
		name        string
		out         string
		want        []result
		wantRunning string
	}{
		{
			name: "pass fail skip and summary",
			out: run + "A\n" + pass + "A\n" + run + "B\n" + fail + "B: expected x, instead got y\n" +
				run + "C\n" + skip + "C: not configured\n\nRAN: 3 PASS: 1 FAIL: 1 SKIP: 1\n",
			want: []result{
				{name: "A", status: statusPass},
				{name: "B", status: statusFail, detail: "expected x, instead got y"},
				{name: "C", status: statusNA, detail: "not configured"},
			},
		},
		{
			name: "teardown failure without newline reports nothing",
			out:  run + "A\n\x1b[31mA: failed to delete the bucket: boom" + run + "B\n" + pass + "B\n",
			want: []result{
				{name: "A", status: statusFail, detail: "no PASS or FAIL reported\n\x1b[31mA: failed to delete the bucket: boom"},
				{name: "B", status: statusPass},
			},
		},
		{
			name:        "crash in the middle of a test",
			out:         run + "A\n" + pass + "A\n" + run + "B\nsome SDK warning\n",
			want:        []result{{name: "A", status: statusPass}},
			wantRunning: "B",
		},
		{
			name: "multi-line failure",
			out:  run + "A\n" + fail + "A: line one\nline two\n" + run + "B\n" + pass + "B\n",
			want: []result{{name: "A", status: statusFail, detail: "line one\nline two"}, {name: "B", status: statusPass}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, running, _ := parseVersityOutput(tt.out)
			if !reflect.DeepEqual(got, tt.want) || running != tt.wantRunning {
				t.Fatalf("got %+v running %q\nwant %+v running %q", got, running, tt.want, tt.wantRunning)
			}
		})
	}
}

func TestParseMinioGoLog(t *testing.T) {
	out := strings.Join([]string{
		`{"level":"INFO","name":"minio-go: testA","duration":3,"function":"F()","status":"PASS"}`,
		`not json`,
		`{"level":"ERROR","name":"minio-go: testB","function":"G()","status":"FAIL","alert":"","message":"Put failed","error":"boom"}`,
		`{"level":"INFO","name":"minio-go: testC","function":"H()","status":"NA","alert":"Cors is NotImplemented"}`,
	}, "\n")
	want := []result{
		{name: "testA", status: statusPass},
		{name: "testB", status: statusFail, detail: "G() | Put failed | boom"},
		{name: "testC", status: statusNA, detail: "H() | Cors is NotImplemented"},
	}
	if got := parseMinioGoLog([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		in   []result
		want result
	}{
		{"fail wins over pass", []result{{name: "a", status: statusPass}, {name: "a", status: statusFail, detail: "x"}}, result{name: "a", status: statusFail, detail: "x"}},
		{"pass wins over NA", []result{{name: "a", status: statusNA}, {name: "a", status: statusPass}}, result{name: "a", status: statusPass}},
		{"failures add up", []result{{name: "a", status: statusFail, detail: "x"}, {name: "a", status: statusFail, detail: "y"}}, result{name: "a", status: statusFail, detail: "x\ny"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, order := merge(tt.in)
			if len(order) != 1 || !reflect.DeepEqual(got["a"], tt.want) {
				t.Fatalf("got %+v (order %v), want %+v", got["a"], order, tt.want)
			}
		})
	}
}

func TestMinioGoFullModeTests(t *testing.T) {
	src := `package main
func testB() { c, _ := NewClient(ClientConfig{CredsV2: true}); _ = c }
func testA() { c, _ := NewClient(ClientConfig{}); _ = c }
func main() {
	setup()
	if isFullMode() {
		testA()
		testB()
		if tls {
			testTLS()
		}
		if kms {
			testKMS()
		}
	} else {
		testA()
	}
}`
	tests, skipped, err := minioGoFullModeTests([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tests, []string{"testA", "testB"}) || !reflect.DeepEqual(skipped, []string{"testTLS", "testKMS"}) {
		t.Fatalf("tests %v skipped %v", tests, skipped)
	}
	v2, err := minioGoSigV2Tests([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v2, map[string]bool{"testB": true}) {
		t.Fatalf("SigV2 tests %v", v2)
	}
}
