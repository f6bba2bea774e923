package flagenv

import (
	"flag"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "def"},
		{"env fallback", nil, map[string]string{"ANVIL_S3_LISTEN_ADDR": "env"}, "env"},
		{"flag wins over env", []string{"-s3.listen-addr=flag"}, map[string]string{"ANVIL_S3_LISTEN_ADDR": "env"}, "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			v := fs.String("s3.listen-addr", "def", "")
			lookup := func(k string) (string, bool) { s, ok := tt.env[k]; return s, ok }
			if err := parse(fs, tt.args, lookup); err != nil {
				t.Fatal(err)
			}
			if *v != tt.want {
				t.Fatalf("got %q, want %q", *v, tt.want)
			}
		})
	}
}

func TestParseBadEnvValue(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("n", 1, "")
	lookup := func(k string) (string, bool) { return "notanumber", k == "ANVIL_N" }
	if err := parse(fs, nil, lookup); err == nil {
		t.Fatal("want error for a bad env value")
	}
}

func TestStringList(t *testing.T) {
	var l StringList
	_ = l.Set("a, b")
	_ = l.Set("c")
	if got := l.String(); got != "a,b,c" {
		t.Fatalf("got %q", got)
	}
}
