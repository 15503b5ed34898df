// Command hog takes memory, 16 MiB at a time and touching every page, as a
// process reading an endless body into memory does, up to a bound of its
// own (-max, default 2 GiB) so that it can never take a machine whatever
// watches it. Then it holds what it took until killed or for -hold.
// The e2e suite's memory watchdog is tested on it.
package main

import (
	"flag"
	"os"
	"time"
)

func main() {
	limit := flag.Int64("max", 2<<30, "stop taking memory at `BYTES`")
	hold := flag.Duration("hold", time.Minute, "then hold it this `long` and exit")
	flag.Parse()
	var held [][]byte
	for taken := int64(0); taken < *limit; taken += 16 << 20 {
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += os.Getpagesize() {
			b[i] = 1
		}
		held = append(held, b)
		time.Sleep(time.Millisecond)
	}
	time.Sleep(*hold)
	_ = held
}
