// Command anvil-storagenode runs an Anvil storage node.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/anvil-store/anvil/pkg/flagenv"
	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/storagenode"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("anvil-storagenode", flag.ContinueOnError)
	var cfg storagenode.Config
	cfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "invalid configuration: %v\n", err)
		return 2
	}
	log := cfg.Log.NewLogger(os.Stderr, "storagenode")
	ctx, stop := service.SignalContext()
	defer stop()
	node, err := storagenode.New(cfg, log, service.NewRegistry())
	if err != nil {
		log.Error("start storage node", "err", err)
		return 1
	}
	if err := node.Run(ctx); err != nil {
		log.Error("run storage node", "err", err)
		return 1
	}
	return 0
}
