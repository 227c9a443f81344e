// A Go workload for the unwinding tests: main.main -> goOuter -> goMiddle ->
// goLeaf for SECONDS. Go code keeps frame pointers; its unwind tables are in
// .debug_frame (compressed by newer toolchains, then unused by the agent).
// Usage: spin-go SECONDS

package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func goLeaf(n uint64) uint64 {
	var acc [4]uint64
	for i := uint64(0); i < n; i++ {
		acc[i&3] += i ^ (acc[(i+1)&3] >> 3)
	}
	return acc[0] + acc[1] + acc[2] + acc[3]
}

//go:noinline
func goMiddle(n uint64) uint64 { return goLeaf(n) + 1 }

//go:noinline
func goOuter(until time.Time) {
	for time.Now().Before(until) {
		sink += goMiddle(200000)
	}
}

func main() {
	secs, _ := strconv.ParseFloat(os.Args[1], 64)
	goOuter(time.Now().Add(time.Duration(secs * float64(time.Second))))
}
