package main

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortsDistinctAndBindable(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		ln.Close()
	}
	if _, err := freePorts(0); err == nil {
		t.Error("freePorts(0) accepted")
	}
}
