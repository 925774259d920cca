package ingress

import (
	"context"
	"testing"
	"time"
)

func TestStackLocksGiveUpAtTheDeadline(t *testing.T) {
	var l StackLocks
	unlock, err := l.Lock(context.Background(), "ns/app")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Lock(ctx, "ns/app"); err == nil {
		t.Fatal("a second holder got the lock")
	}
	if n := l.holders("ns/app"); n != 1 {
		t.Fatalf("holders = %d after a waiter gave up, want 1", n)
	}
	other, err := l.Lock(context.Background(), "ns/other")
	if err != nil {
		t.Fatalf("another stack's lock: %v", err)
	}
	other()
	unlock()
	if n := len(l.locks); n != 0 {
		t.Fatalf("%d locks left after every holder let go", n)
	}
	again, err := l.Lock(context.Background(), "ns/app")
	if err != nil {
		t.Fatalf("a released lock: %v", err)
	}
	again()
}

func TestBackoffDoublesToItsCapAndResets(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 7 {
		got = append(got, b.next("a"))
	}
	want := []time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	if d := b.next("b"); d != firstWait {
		t.Fatalf("another stack's first wait = %v", d)
	}
	b.reset("a")
	if d := b.next("a"); d != firstWait {
		t.Fatalf("wait after reset = %v", d)
	}
}
