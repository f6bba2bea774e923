package localpg_test

import (
	"context"
	"testing"

	"github.com/anvil-store/anvil/pkg/testenv"
	"github.com/jackc/pgx/v5"
)

func TestStartCreateDatabase(t *testing.T) {
	pg := testenv.Postgres(t)
	ctx := context.Background()
	for range 2 { // creating twice is a no-op
		if err := pg.CreateDatabase(ctx, "anvil_global"); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, pg.DSN("anvil_global"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("query: %v %d", err, one)
	}
}
