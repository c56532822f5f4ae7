// Command freeport prints n distinct TCP ports on 127.0.0.1 that were free
// a moment ago, one a line, so the harness never picks a port someone else
// is using. All n are held open together so they are distinct.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

func main() {
	n := flag.Int("n", 1, "how many ports")
	flag.Parse()
	ports, err := freePorts(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "freeport:", err)
		os.Exit(1)
	}
	for _, p := range ports {
		fmt.Println(p)
	}
}

func freePorts(n int) ([]int, error) {
	if n < 1 || n > 100 {
		return nil, fmt.Errorf("n must be 1..100, got %d", n)
	}
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
