package bench

// The target's CPU time and memory, from /proc (proc(5)), and the bench
// process's own CPU time.

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// procCPU reads a process's user+system CPU time from /proc/PID/stat
// (proc(5): fields 14 and 15).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// procPPID reads the parent of a process (field 4 of /proc/PID/stat).
func procPPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// withDescendants returns pids and every live descendant (rspamd's
// workers are children of its main process).
func withDescendants(pids []int) ([]int, error) {
	if len(pids) == 0 {
		return nil, nil
	}
	want := map[int]bool{}
	for _, p := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(p)); err != nil {
			return nil, fmt.Errorf("cpu pid %d: %w", p, err)
		}
		want[p] = true
	}
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			parent[n] = procPPID(n)
		}
	}
	for changed := true; changed; {
		changed = false
		for p, pp := range parent {
			if !want[p] && want[pp] {
				want[p], changed = true, true
			}
		}
	}
	out := make([]int, 0, len(want))
	for p := range want {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

// cpuOf sums the CPU time of live processes; one that has gone counts 0.
func cpuOf(pids []int) (time.Duration, error) {
	var t time.Duration
	for _, p := range pids {
		d, err := procCPU(p)
		if err != nil {
			continue
		}
		t += d
	}
	return t, nil
}

// selfCPU is this process's user+system CPU time (getrusage(2)).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procRSS reads VmRSS and VmHWM of a process, in MiB.
func procRSS(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}
