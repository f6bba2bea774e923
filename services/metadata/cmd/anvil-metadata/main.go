// Command anvil-metadata runs the metadata service.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/metadata"
)

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "anvil-metadata:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("anvil-metadata", flag.ContinueOnError)
	var cfg metadata.Config
	cfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Log.NewLogger(os.Stderr, "metadata")
	svc, err := metadata.New(cfg, log, service.NewRegistry())
	if err != nil {
		return err
	}
	ctx, stop := service.SignalContext()
	defer stop()
	if err := svc.Run(ctx); err != nil {
		log.Error("metadata service failed", "err", err)
		return err
	}
	return nil
}
