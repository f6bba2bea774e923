package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/prometheus/client_golang/prometheus"
)

// Configurable is what a service's Config offers its main.
type Configurable interface {
	RegisterFlags(fs *flag.FlagSet)
	Validate() error
}

// RunFunc builds and runs a service until ctx is done.
type RunFunc func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error

// Exit codes of every service binary.
const (
	ExitOK     = 0
	ExitFailed = 1 // the service failed while starting or running
	ExitUsage  = 2 // bad flags or configuration
)

// Main is the whole body of a service binary: parse flags (with ANVIL_*
// environment fallback) into cfg, validate, build the logger from logCfg
// (a field of cfg), run until SIGINT or SIGTERM, and exit.
func Main(name string, cfg Configurable, logCfg *LogConfig, run RunFunc) {
	ctx, stop := SignalContext()
	code := mainCode(ctx, name, os.Args[1:], os.Stderr, cfg, logCfg, run)
	stop()
	os.Exit(code)
}

func mainCode(ctx context.Context, name string, args []string, stderr io.Writer, cfg Configurable, logCfg *LogConfig, run RunFunc) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration: %v\n", name, err)
		return ExitUsage
	}
	log := logCfg.NewLogger(stderr, strings.TrimPrefix(name, "anvil-"))
	if err := run(ctx, log, NewRegistry()); err != nil {
		log.Error("service failed", "err", err)
		return ExitFailed
	}
	return ExitOK
}
