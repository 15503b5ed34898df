// Command rusage runs a command, waits for it and writes its peak resident
// set size and CPU time to a file, as JSON; it exits with the command's exit
// code.
//
//	rusage -o FILE -- COMMAND [ARG]...
//
// BenchmarkFleet starts rotatord through it. A process started directly
// by the benchmark would report the benchmark's own peak RSS whenever that
// is larger: os/exec starts children with vfork (CLONE_VM), and Linux
// counts the high-water mark of the memory a process had before exec into
// its ru_maxrss. This process is small, so its children's figures are
// their own.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Usage is what the file holds.
type Usage struct {
	MaxRSSKiB int64 // ru_maxrss, KiB on Linux
	UserNS    int64
	SystemNS  int64
}

func main() {
	out := flag.String("o", "", "write the usage to `FILE`")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: rusage -o FILE -- COMMAND [ARG]...")
		os.Exit(2)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Killed with us: the benchmark's timeout kills this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(127)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	data, _ := json.Marshal(Usage{MaxRSSKiB: ru.Maxrss, UserNS: ru.Utime.Nano(), SystemNS: ru.Stime.Nano()})
	if err := os.WriteFile(*out, data, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(127)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
