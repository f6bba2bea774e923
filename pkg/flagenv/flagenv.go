// Package flagenv parses command-line flags with ANVIL_* environment
// variables as a fallback, so that flags, env and the Helm chart share names.
package flagenv

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName returns the environment variable consulted for a flag name:
// "s3.listen-addr" becomes "ANVIL_S3_LISTEN_ADDR".
func EnvName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "ANVIL_" + strings.ToUpper(r.Replace(flagName))
}

// Parse parses args into fs, then sets every flag that was not given on the
// command line from its environment variable, when that variable is set.
func Parse(fs *flag.FlagSet, args []string) error {
	return parse(fs, args, os.LookupEnv)
}

func parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || firstErr != nil {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("set flag %s from %s: %w", f.Name, name, err)
			}
		}
	})
	return firstErr
}

// StringList is a repeatable flag; from the environment it takes a
// comma-separated list.
type StringList []string

func (s *StringList) String() string { return strings.Join(*s, ",") }

// Set appends one value, or several separated by commas.
func (s *StringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}
