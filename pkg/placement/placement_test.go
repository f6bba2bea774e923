package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func nodesIn(zones ...string) []Node {
	nodes := make([]Node, len(zones))
	for i, z := range zones {
		nodes[i] = Node{ID: fmt.Sprintf("node-%d", i), Zone: z, Weight: 1}
	}
	return nodes
}

func ids(nodes []Node) []string {
	s := make([]string, len(nodes))
	for i, n := range nodes {
		s[i] = n.ID
	}
	return s
}

func TestPickDeterministicAndOrderIndependent(t *testing.T) {
	nodes := nodesIn("a", "a", "b", "b", "c", "c", "c", "d")
	nodes[3].Weight = 5
	rng := rand.New(rand.NewPCG(1, 2))
	for o := range 200 {
		id := fmt.Sprintf("object-%d", o)
		want, err := Pick(id, nodes, 6)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := slices.Clone(nodes)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := Pick(id, shuffled, 6)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %v after shuffling, %v before", id, ids(got), ids(want))
		}
	}
}

func TestPickDistinct(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		n     int
	}{
		{"all of one zone", nodesIn("a", "a", "a", "a"), 4},
		{"all of many zones", nodesIn("a", "b", "b", "c", "c", "c"), 6},
		{"some, no zones", nodesIn("", "", "", "", "", "", "", ""), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for o := range 100 {
				got, err := Pick(fmt.Sprint(o), tt.nodes, tt.n)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, n := range got {
					if seen[n.ID] {
						t.Fatalf("object %d: %s picked twice in %v", o, n.ID, ids(got))
					}
					seen[n.ID] = true
				}
				if len(got) != tt.n {
					t.Fatalf("picked %d, want %d", len(got), tt.n)
				}
			}
		})
	}
}

func TestPickZoneSpread(t *testing.T) {
	nodes := nodesIn("a", "a", "b", "b", "c", "c")
	nodes[0].Weight = 100 // heavy nodes do not pull a zone ahead of the spread
	nodes[1].Weight = 100
	tests := []struct {
		n        int
		wantZone map[string]int
	}{
		{6, map[string]int{"a": 2, "b": 2, "c": 2}},
		{3, map[string]int{"a": 1, "b": 1, "c": 1}},
		{4, nil}, // checked below: counts differ by at most one
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			for o := range 300 {
				got, err := Pick(fmt.Sprintf("obj/%d", o), nodes, tt.n)
				if err != nil {
					t.Fatal(err)
				}
				count := map[string]int{}
				for _, n := range got {
					count[n.Zone]++
				}
				if tt.wantZone != nil && !mapsEqual(count, tt.wantZone) {
					t.Fatalf("zones %v, want %v", count, tt.wantZone)
				}
				lo, hi := tt.n, 0
				for _, z := range []string{"a", "b", "c"} {
					lo, hi = min(lo, count[z]), max(hi, count[z])
				}
				if hi-lo > 1 {
					t.Fatalf("uneven zones %v", count)
				}
				// The first picks cover distinct zones.
				firstZones := map[string]bool{}
				for _, n := range got[:min(3, len(got))] {
					firstZones[n.Zone] = true
				}
				if len(firstZones) != min(3, len(got)) {
					t.Fatalf("first picks %v share a zone", ids(got))
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPickWeighting(t *testing.T) {
	nodes := []Node{
		{ID: "w1", Weight: 1},
		{ID: "w2", Weight: 2},
		{ID: "w3", Weight: 3},
		{ID: "w4", Weight: 4},
		{ID: "zero", Weight: 0}, // counts as 1
		{ID: "negative", Weight: -7},
	}
	const objects = 20000
	wins := map[string]int{}
	for o := range objects {
		got, err := Pick(fmt.Sprintf("weighted-%d", o), nodes, 1)
		if err != nil {
			t.Fatal(err)
		}
		wins[got[0].ID]++
	}
	total := 12.0 // 1+2+3+4+1+1
	for _, n := range nodes {
		w := max(n.Weight, 0)
		if w == 0 {
			w = 1
		}
		want := objects * w / total
		if got := float64(wins[n.ID]); got < 0.85*want || got > 1.15*want {
			t.Errorf("%s (weight %v) won %v times, want about %.0f", n.ID, n.Weight, got, want)
		}
	}
}

func TestPickMinimalDisruption(t *testing.T) {
	nodes := nodesIn(slices.Repeat([]string{"one"}, 12)...)
	for o := range 500 {
		id := fmt.Sprintf("o%d", o)
		before, err := Pick(id, nodes, 6)
		if err != nil {
			t.Fatal(err)
		}
		for r := range nodes {
			fewer := slices.Delete(slices.Clone(nodes), r, r+1)
			after, err := Pick(id, fewer, 6)
			if err != nil {
				t.Fatal(err)
			}
			removed := nodes[r].ID
			if !slices.Contains(ids(before), removed) {
				if !slices.Equal(after, before) {
					t.Fatalf("%s: removing unpicked %s changed %v to %v", id, removed, ids(before), ids(after))
				}
				continue
			}
			// Everyone else keeps their place in the order; one newcomer joins at the end.
			kept := slices.DeleteFunc(slices.Clone(before), func(n Node) bool { return n.ID == removed })
			if !slices.Equal(after[:5], kept) || slices.Contains(ids(before), after[5].ID) {
				t.Fatalf("%s: removing %s changed %v to %v", id, removed, ids(before), ids(after))
			}
		}
	}
}

func TestPickErrors(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []Node
		n       int
		wantIs  error
		wantMsg string
	}{
		{"too few", nodesIn("a", "b", "c"), 6, ErrNotEnoughNodes, "need 6, have 3"},
		{"none", nil, 1, ErrNotEnoughNodes, "need 1, have 0"},
		{"negative", nodesIn("a"), -1, nil, "negative node count"},
		{"duplicate", []Node{{ID: "x"}, {ID: "y"}, {ID: "x", Zone: "b"}}, 2, nil, `duplicate node id "x"`},
		{"empty id", []Node{{ID: "x"}, {ID: ""}}, 1, nil, "empty id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Pick("obj", tt.nodes, tt.n)
			if err == nil {
				t.Fatalf("Pick = %v, want error", ids(got))
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("error %v does not wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
	got, err := Pick("obj", nodesIn("a"), 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Pick(0) = %v, %v; want nothing", got, err)
	}
}

func TestUnitHashRange(t *testing.T) {
	for o := range 1000 {
		if h := unitHash(fmt.Sprint(o), "n"); !(h > 0 && h < 1) {
			t.Fatalf("unitHash = %v, outside (0, 1)", h)
		}
	}
	// The id pair is length-prefixed: moving bytes between the parts changes the hash.
	if unitHash("ab", "c") == unitHash("a", "bc") {
		t.Fatal("(ab, c) and (a, bc) hash the same")
	}
}

func BenchmarkPick(b *testing.B) {
	zones := make([]string, 100)
	for i := range zones {
		zones[i] = fmt.Sprint("zone-", i%3)
	}
	nodes := nodesIn(zones...)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := Pick(fmt.Sprint(i), nodes, 6); err != nil {
			b.Fatal(err)
		}
	}
}
