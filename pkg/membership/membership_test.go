package membership

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anvil-store/anvil/pkg/testenv"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegisterAndWatch(t *testing.T) {
	etcd := testenv.Etcd(t)
	cfg := Config{Endpoints: etcd.Endpoint(), Cluster: "t", TTL: 2 * time.Second}
	cli, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	var joins, leaves atomic.Int32
	view := NewView(cli, "t", log, func(joined bool, m Member) {
		if joined {
			joins.Add(1)
		} else {
			leaves.Add(1)
		}
	})
	go view.Run(ctx)

	m := Member{ID: "sn-1", Role: RoleStorageNode, Region: "r1", Zone: "z1", GRPCAddr: "127.0.0.1:1"}
	reg, err := Register(ctx, cli, "t", m, 2*time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	regCtx, stopReg := context.WithCancel(ctx)
	regDone := make(chan struct{})
	go func() { _ = reg.Run(regCtx); close(regDone) }()

	waitFor(t, "member to appear", func() bool { return len(view.Members(RoleStorageNode, "r1")) == 1 })
	if got := view.Members(RoleGateway, ""); len(got) != 0 {
		t.Fatalf("role filter: %v", got)
	}
	if err := reg.Update(ctx, func(m *Member) { m.FreeBytes = 42 }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "update", func() bool {
		got, ok := view.Lookup(RoleStorageNode, "sn-1")
		return ok && got.FreeBytes == 42
	})
	if err := reg.Registered(ctx); err != nil {
		t.Fatal(err)
	}
	// The lease outlives several TTLs while kept alive.
	time.Sleep(3 * time.Second)
	if n := len(view.Members(RoleStorageNode, "")); n != 1 {
		t.Fatalf("member lost while kept alive: %d", n)
	}
	stopReg()
	<-regDone
	waitFor(t, "member to leave", func() bool { return len(view.Members("", "")) == 0 })
	if joins.Load() != 1 || leaves.Load() != 1 {
		t.Fatalf("churn events: joins=%d leaves=%d", joins.Load(), leaves.Load())
	}
}

// A process that restarts before its old lease expires re-registers under
// the same key; watchers see it leave and join again.
func TestRestartIsReportedAsLeaveAndJoin(t *testing.T) {
	etcd := testenv.Etcd(t)
	cfg := Config{Endpoints: etcd.Endpoint(), Cluster: "t", TTL: 30 * time.Second}
	cli, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	var joins, leaves atomic.Int32
	view := NewView(cli, "t", log, func(joined bool, m Member) {
		if joined {
			joins.Add(1)
		} else {
			leaves.Add(1)
		}
	})
	go view.Run(ctx)
	m := Member{ID: "sn-1", Role: RoleStorageNode, Region: "r1", StartedAt: time.Unix(100, 0)}
	if _, err := Register(ctx, cli, "t", m, cfg.TTL, log); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first join", func() bool { return joins.Load() == 1 })
	m.StartedAt = time.Unix(200, 0) // the restarted process
	if _, err := Register(ctx, cli, "t", m, cfg.TTL, log); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leave and join", func() bool { return joins.Load() == 2 && leaves.Load() == 1 })
	if n := len(view.Members("", "")); n != 1 {
		t.Fatalf("members after restart: %d", n)
	}
}
