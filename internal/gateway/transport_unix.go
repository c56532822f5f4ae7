//go:build unix

package gateway

import (
	"net"
	"syscall"
)

// closedByPeer reports whether the backend closed (or reset) an idle
// connection, without blocking: a peek that finds the end of the stream,
// or an error other than "nothing to read yet". A pooled connection must
// not be handed a request that cannot be sent twice when its backend has
// already hung up (net/http's Transport learns that from its reader
// goroutine; the direct path asks the socket).
func closedByPeer(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
		case rerr != nil, n == 0:
			closed = true
		default:
			// Bytes nobody asked for: the connection is out of step.
			closed = true
		}
		return true
	})
	return closed || err != nil
}
