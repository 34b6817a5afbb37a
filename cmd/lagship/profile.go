package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profileFlags are run's -cpuprofile and -memprofile: Go's own profiles of a
// run, written for `go tool pprof` (bench/run.sh PROFILE=dir uses them).
type profileFlags struct{ cpu, heap *string }

func (p *profileFlags) register(fs *flag.FlagSet) {
	p.cpu = fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	p.heap = fs.String("memprofile", "", "write a heap profile to this file when the run is asked to stop, before it shuts down (for go tool pprof)")
}

// start begins the CPU profile and, once ctx ends (the stop signal), writes
// the heap profile of the running agent; the returned stop ends the CPU
// profile and waits for the heap profile.
func (p *profileFlags) start(ctx context.Context) (stop func() error, err error) {
	var cpu *os.File
	if *p.cpu != "" {
		if cpu, err = os.Create(*p.cpu); err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
	}
	heap := make(chan error, 1)
	if *p.heap == "" {
		heap <- nil
	} else {
		go func() {
			<-ctx.Done()
			heap <- writeHeap(*p.heap)
		}()
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return fmt.Errorf("-cpuprofile: %w", err)
			}
		}
		return <-heap
	}, nil
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-memprofile: %w", err)
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("-memprofile: %w", err)
	}
	return f.Close()
}
