package main

import (
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
	p.heap = fs.String("memprofile", "", "write a heap profile to this file when the run ends (for go tool pprof)")
}

// start begins the CPU profile; the returned stop ends it and writes the
// heap profile.
func (p *profileFlags) start() (stop func() error, err error) {
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
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return fmt.Errorf("-cpuprofile: %w", err)
			}
		}
		if *p.heap == "" {
			return nil
		}
		f, err := os.Create(*p.heap)
		if err != nil {
			return fmt.Errorf("-memprofile: %w", err)
		}
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			f.Close()
			return fmt.Errorf("-memprofile: %w", err)
		}
		return f.Close()
	}, nil
}
