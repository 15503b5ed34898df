package budget

import (
	"context"
	"sync"
	"testing"
)

func TestTakeSpendsExactlyTheRetries(t *testing.T) {
	for _, retries := range []int{-1, 0, 1, 4} {
		b := New(retries, 0, 0)
		got := 0
		for b.Take() {
			got++
			if got > 10 {
				t.Fatal("Take never runs out")
			}
		}
		if want := max(retries, 0); got != want {
			t.Errorf("New(%d): %d retries taken, want %d", retries, got, want)
		}
		if n, ok := b.Left(); n != 0 || !ok {
			t.Errorf("New(%d): Left() = %d, %v after all were taken", retries, n, ok)
		}
	}
}

// Layers that retry at once (a user reconciliation's calls, say) never
// overdraw the budget between them.
func TestTakeConcurrent(t *testing.T) {
	b := New(100, 0, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Go(func() {
			for b.Take() {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != 100 {
		t.Errorf("%d retries taken from a budget of 100", taken)
	}
}

func TestNilIsUnlimited(t *testing.T) {
	var b *Budget
	for range 3 {
		if !b.Take() {
			t.Fatal("a nil Budget refused a retry")
		}
	}
	if _, ok := b.Left(); ok {
		t.Error("a nil Budget reports a limit")
	}
	if FromContext(context.Background()) != nil {
		t.Error("a context without a Budget carries one")
	}
	b = New(2, 0, 0)
	if got := FromContext(NewContext(context.Background(), b)); got != b {
		t.Error("FromContext does not return the Budget NewContext stored")
	}
}
