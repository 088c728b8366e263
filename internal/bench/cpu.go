package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the kernel's clock tick for /proc/*/stat times on Linux.
const userHZ = 100

// CPU returns the CPU time (user+system) used so far by this process and
// by the emulators it started, by name: "go" (the worker, the simulators
// and the harness share this process), "dynalite", "fauxqs". It reads
// /proc, so it is empty where there is none.
func CPU() map[string]time.Duration {
	out := make(map[string]time.Duration)
	self := strconv.Itoa(os.Getpid())
	if d, ok := procCPU("/proc/self/stat"); ok {
		out["go"] = d
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		fields := statFields(string(data))
		if len(fields) < 15 || fields[1] != self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "cmdline"))
		name := "other"
		switch {
		case strings.Contains(string(cmdline), "dynalite"):
			name = "dynalite"
		case strings.Contains(string(cmdline), "fauxqs"):
			name = "fauxqs"
		}
		if d, ok := procCPU(path); ok {
			out[name] += d
		}
	}
	return out
}

// statFields returns the fields of a stat line after the command name
// (which may hold spaces): state, ppid, ... so index 1 is the parent.
func statFields(line string) []string {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return nil
	}
	return strings.Fields(line[end+1:])
}

func procCPU(path string) (time.Duration, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	f := statFields(string(data))
	if len(f) < 13 {
		return 0, false
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	system, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(user+system) * time.Second / userHZ, true
}

// CPUSince returns the CPU used by each since before.
func CPUSince(before map[string]time.Duration) map[string]time.Duration {
	out := CPU()
	for k, v := range before {
		out[k] -= v
	}
	return out
}
