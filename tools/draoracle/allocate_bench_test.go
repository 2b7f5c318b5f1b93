package main

// Per-claim latency of the upstream structured allocator, on the inputs
// benchmarks/upstream_allocator.py writes: the node shapes of benchmarks/allocator.py, after
// dralloc's loader has defaulted them, so both allocators are timed on identical objects.
//
//	DRALLOC_ALLOCATOR_CASES=cases.jsonl go test -run '^$' -bench . -benchtime 2000x -count 5 -cpu 1
//
// The case file holds one case per line, in dra-oracle's input shape (see main.go), plus
// "fits": whether the claims must be allocated. Without the variable the benchmarks skip, so a
// plain `go test` stays quiet. Nothing here is part of the dra-oracle binary.
//
// Two benchmarks per case:
//
//	BenchmarkAllocate/<case>              Allocate alone, on one allocator built beforehand:
//	                                      what kube-scheduler's Filter pays per node, and what
//	                                      dralloc's `Allocator.allocate` with a long-lived
//	                                      Inventory does.
//	BenchmarkNewAllocatorAllocate/<case>  NewAllocator then Allocate: what a pod's first node
//	                                      costs (kube-scheduler builds one allocator per pod in
//	                                      PreFilter).
//
// Besides ns/op (the mean), each reports median-us and p99-us over its calls, timed one by one,
// which is what benchmarks/allocator.py reports for dralloc.

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"k8s.io/dynamic-resource-allocation/structured"
)

// casesEnv names the file of cases; benchmarks/upstream_allocator.py sets it.
const casesEnv = "DRALLOC_ALLOCATOR_CASES"

type benchCase struct {
	oracleCase
	Fits bool `json:"fits"`
}

func readBenchCases(b *testing.B) []benchCase {
	path := os.Getenv(casesEnv)
	if path == "" {
		b.Skipf("%s is not set: run benchmarks/upstream_allocator.py", casesEnv)
	}
	file, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	var cases []benchCase
	lines := bufio.NewScanner(file)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	for lines.Scan() {
		if len(lines.Bytes()) == 0 {
			continue
		}
		var c benchCase
		if err := json.Unmarshal(lines.Bytes(), &c); err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, c)
	}
	if err := lines.Err(); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return cases
}

// newBenchAllocator builds the allocator of one case as main.go's run does.
func newBenchAllocator(ctx context.Context, c *benchCase) (structured.Allocator, error) {
	features, err := featuresOf(c.Features)
	if err != nil {
		return nil, err
	}
	switch c.Allocator {
	case "":
		structured.EnableAllocators()
	default:
		structured.EnableAllocators(c.Allocator)
	}
	classes := classLister{}
	for _, class := range c.Classes {
		classes[class.Name] = class
	}
	state := allocatedStateOf(c.AllocatedClaims, features.ConsumableCapacity)
	return structured.NewAllocator(ctx, features, state, classes, c.Slices, celCacheFor(features))
}

// checkOutcome fails the benchmark unless the claims fit exactly when the case says they do.
func checkOutcome(b *testing.B, c *benchCase, results any, fits bool, err error) {
	if err != nil {
		b.Fatalf("%s: %v", c.ID, err)
	}
	if fits != c.Fits {
		b.Fatalf("%s: allocated=%v, the case expects %v (results: %v)", c.ID, fits, c.Fits, results)
	}
}

// reportLatencies adds the median and p99 of the per-call times, in microseconds.
func reportLatencies(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	median := samples[len(samples)/2]
	if len(samples)%2 == 0 {
		median = (samples[len(samples)/2-1] + samples[len(samples)/2]) / 2
	}
	p99 := samples[min(len(samples)-1, len(samples)*99/100)]
	b.ReportMetric(float64(median.Nanoseconds())/1e3, "median-us")
	b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-us")
}

func BenchmarkAllocate(b *testing.B) {
	for _, c := range readBenchCases(b) {
		b.Run(c.ID, func(b *testing.B) {
			ctx := context.Background()
			alloc, err := newBenchAllocator(ctx, &c)
			if err != nil {
				b.Fatalf("%s: %v", c.ID, err)
			}
			// The first call compiles the selectors (CEL cache) and checks the outcome; the
			// timed calls are steady state, as benchmarks/allocator.py's are after warm-up.
			results, err := alloc.Allocate(ctx, c.Node, c.Claims)
			checkOutcome(b, &c, results, results != nil, err)
			b.Logf("%s: allocator %T", c.ID, alloc)
			b.ReportAllocs()
			samples := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				results, err := alloc.Allocate(ctx, c.Node, c.Claims)
				samples = append(samples, time.Since(start))
				if err != nil || (results != nil) != c.Fits {
					b.Fatalf("%s: outcome changed between calls: %v", c.ID, err)
				}
			}
			reportLatencies(b, samples)
		})
	}
}

func BenchmarkNewAllocatorAllocate(b *testing.B) {
	for _, c := range readBenchCases(b) {
		b.Run(c.ID, func(b *testing.B) {
			ctx := context.Background()
			alloc, err := newBenchAllocator(ctx, &c)
			if err != nil {
				b.Fatalf("%s: %v", c.ID, err)
			}
			results, err := alloc.Allocate(ctx, c.Node, c.Claims)
			checkOutcome(b, &c, results, results != nil, err)
			b.ReportAllocs()
			samples := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				alloc, err := newBenchAllocator(ctx, &c)
				if err != nil {
					b.Fatalf("%s: %v", c.ID, err)
				}
				results, err := alloc.Allocate(ctx, c.Node, c.Claims)
				samples = append(samples, time.Since(start))
				if err != nil || (results != nil) != c.Fits {
					b.Fatalf("%s: outcome changed between calls: %v", c.ID, err)
				}
			}
			reportLatencies(b, samples)
		})
	}
}
