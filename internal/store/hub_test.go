package store

import (
	"testing"
)

// TestHubSubscriberSeesEarlierVersion: a version published between a
// subscriber's read of the configuration and its Subscribe reaches it, as
// Publish never repeats a version (a node starting while another writes
// stayed behind until the next write).
func TestHubSubscriberSeesEarlierVersion(t *testing.T) {
	h := NewHub(5)
	if got := len(h.Subscribe(t.Context())); got != 0 {
		t.Fatalf("a fresh hub delivered %d versions", got)
	}
	h.Publish(7)
	h.Publish(7) // not repeated
	ch := h.Subscribe(t.Context())
	select {
	case v := <-ch:
		if v != 7 {
			t.Fatalf("got %d, want 7", v)
		}
	default:
		t.Fatal("the version published before Subscribe was not delivered")
	}
	h.Publish(8)
	if v := <-ch; v != 8 {
		t.Fatalf("got %d, want 8", v)
	}
}
