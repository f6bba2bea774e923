// Command anvil-gateway serves the Anvil S3 API.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/gateway"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "anvil-gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg gateway.Config
	fs := flag.NewFlagSet("anvil-gateway", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Log.NewLogger(os.Stderr, "gateway")
	gw, err := gateway.New(cfg, log, service.NewRegistry())
	if err != nil {
		return err
	}
	ctx, stop := service.SignalContext()
	defer stop()
	if err := gw.Run(ctx); err != nil {
		log.Error("gateway failed", "err", err)
		return err
	}
	return nil
}
