package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on Linux everywhere this runs.
const clockTicks = 100

// cpuBetween reads a process's CPU seconds (user + system) used between
// two moments yet to come, sending it when the second has passed.
func cpuBetween(pid int, from, to time.Time) <-chan float64 {
	c := make(chan float64, 1)
	go func() {
		sleepUntil(from)
		a := ticks(pid)
		sleepUntil(to)
		c <- (ticks(pid) - a) / clockTicks
	}()
	return c
}

// ticks is the CPU (user + system) a process has used, in clock ticks.
func ticks(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the command name may hold spaces: the fields start after its ")"
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	return u + sy
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
