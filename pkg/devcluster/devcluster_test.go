package devcluster

import "testing"

// Extra processes of a role get port blocks of their own, so several extra
// gateways or workers never collide on fixed ports.
func TestExtraOffset(t *testing.T) {
	tests := []struct {
		id   string
		want int
	}{
		{"gateway-1", 0},
		{"gateway-2", 1000},
		{"gateway-3", 1010},
		{"worker-2", 2000},
		{"worker-5", 2030},
	}
	for _, tt := range tests {
		base := 1000
		if tt.id[0] == 'w' {
			base = 2000
		}
		if got := extraOffset(tt.id, base); got != tt.want {
			t.Errorf("extraOffset(%q) = %d, want %d", tt.id, got, tt.want)
		}
	}
}
