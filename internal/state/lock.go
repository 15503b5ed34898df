package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// LockedError is Open's error when another process holds the state file's
// lock: two daemons on one state file would erase each other's records.
type LockedError struct {
	Path     string // the state file
	LockFile string // PATH.lock
	PID      int    // the holder's pid as it wrote it; 0 if unknown
}

func (e *LockedError) Error() string {
	holder := "another process (pid unknown)"
	if e.PID > 0 {
		holder = "another rotatord, pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state file %s is in use by %s (lock file %s): stop it, or give this one its own state_file",
		e.Path, holder, e.LockFile)
}

// lockFile takes an exclusive flock(2) on PATH.lock, a file of its own
// rather than the state file, because Save renames a new file over the
// state file and a lock on the old inode would lock nothing. The lock file
// is never removed: unlinking it on release would let a process that had
// just opened the old one and a newcomer that created a new one both hold
// "the" lock. The kernel drops the lock when the holder exits, however it
// exits, so a stale pid in the file means nothing by itself.
func lockFile(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := flock(f); err != nil {
		pid := readPID(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, LockFile: name, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	// The pid is for the person reading the second daemon's error; the
	// lock itself is the flock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// flock takes the lock without waiting, retrying a signal's interruption.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// readPID reads the pid the holder wrote; 0 if there is none yet (the
// holder may be between taking the lock and writing it).
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
