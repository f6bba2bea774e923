// Command anvil-worker runs one member of the worker fleet.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/worker"
)

func main() {
	var cfg worker.Config
	fs := flag.NewFlagSet("anvil-worker", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "anvil-worker:", err)
		os.Exit(2)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "anvil-worker: invalid config:", err)
		os.Exit(2)
	}
	log := cfg.Log.NewLogger(os.Stderr, "worker")
	ctx, stop := service.SignalContext()
	defer stop()
	if err := worker.New(cfg, log).Run(ctx); err != nil {
		log.Error("worker exited", "err", err)
		os.Exit(1)
	}
}
