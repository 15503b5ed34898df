package cipher

import (
	"crypto/rsa"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/secret"
)

// benchCredential is a Basic credential of a typical size: 118 bytes, two
// RSA-OAEP segments under a 1024-bit key, one key wrap under larger keys.
var benchCredential = secret.FromString(`{"credentialData":[{"name":"username","value":"CONTOSO\\svc_powerbi"},` +
	`{"name":"password","value":"` + strings.Repeat("x", 32) + `"}]}`)

// BenchmarkPoolScaling measures how the pool's throughput grows with its
// workers: for each worker count w up to runtime.NumCPU(), GOMAXPROCS is set
// to w and 4·w goroutines (b.RunParallel with SetParallelism(4)) encrypt
// credentials through a pool of w workers, so callers queue for slots as
// rotations do. segments/s counts RSA operations, the pool's unit of work.
//
//	go test -run '^$' -bench BenchmarkPoolScaling -benchtime 2s ./internal/cipher/
func BenchmarkPoolScaling(b *testing.B) {
	for _, bits := range []int{1024, 2048} {
		pub := &testKey(b, bits).PublicKey
		perCredential := segments(pub, benchCredential.Len())
		for workers := 1; workers <= runtime.NumCPU(); workers++ {
			b.Run(fmt.Sprintf("rsa%d/workers=%d", bits, workers), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(workers))
				p := NewPool(workers)
				b.SetParallelism(4)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.Encrypt(b.Context(), pub, benchCredential); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				if got, want := p.Segments(), uint64(b.N*perCredential); got != want {
					b.Fatalf("pool counted %d segments for %d credentials, want %d", got, b.N, want)
				}
				b.ReportMetric(float64(p.Segments())/b.Elapsed().Seconds(), "segments/s")
				b.ReportMetric(float64(p.Segments())/b.Elapsed().Seconds()/float64(workers), "segments/s/worker")
			})
		}
	}
}

// segments is how many RSA operations encrypting n plaintext bytes under
// pub takes.
func segments(pub *rsa.PublicKey, n int) int {
	if pub.Size() == legacyModulusBytes {
		return segmentCount(n)
	}
	return 1
}
