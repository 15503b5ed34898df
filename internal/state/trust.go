package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rotatord/rotatord/internal/safefile"
)

// UntrustedError is Open's error when the state directory or file could
// have been written by someone other than rotatord's user. The state
// decides whether a rotation is skipped (skip_unchanged): a planted file
// naming the current Key Vault version makes rotatord log success and
// PATCH nothing.
type UntrustedError struct {
	Path   string // the state file
	What   string // the directory or file refused
	Reason string // what is wrong with it
	Fix    string // the command that makes it acceptable
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("state file %s: %s %s; another user could plant a state file that makes rotatord skip rotations: %s",
		e.Path, e.What, e.Reason, e.Fix)
}

// ensureDir creates a missing state directory, 0700, but not its parent:
// a missing parent is a missing volume or a wrong path, which is better
// reported at start than papered over.
func ensureDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// checkTrusted refuses a directory or file that rotatord's user does not
// own, or that others may write. Group write is refused too unless the
// group is rotatord's own primary group: a group shared with other users
// lets them plant a file as well, but kubelet makes every file of a volume
// with fsGroup group-writable by that group (rotatord's, runAsGroup) at
// each mount, and a unit whose user has a group of its own gains nothing
// from refusing it. The sticky bit does not help: in /tmp another user can
// still create the state or lock file first.
func checkTrusted(statePath, path string, isDir bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	what := "file " + path
	if isDir {
		what = "directory " + path
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", path)
		}
	} else if !fi.Mode().IsRegular() {
		// Before the owner and mode: chmod is not the fix for a device.
		return fmt.Errorf("%w (%s)", safefile.ErrNotRegular, safefile.DescribeType(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner to check", path)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if int(st.Uid) != uid {
		return &UntrustedError{Path: statePath, What: what,
			Reason: fmt.Sprintf("is owned by uid %d, not by rotatord's user (uid %d)", st.Uid, uid),
			Fix:    fmt.Sprintf("run chown %d %s, or point state_file into a directory of rotatord's user", uid, safefile.ShellQuote(path))}
	}
	perm := fi.Mode().Perm()
	var who string
	switch {
	case perm&0o002 != 0:
		who = "others"
	case perm&0o020 != 0 && int(st.Gid) != gid:
		who = fmt.Sprintf("its group (gid %d, not rotatord's own gid %d)", st.Gid, gid)
	default:
		return nil
	}
	return &UntrustedError{Path: statePath, What: what,
		Reason: fmt.Sprintf("is writable by %s (mode %s)", who, fi.Mode()),
		Fix:    "run chmod go-w " + safefile.ShellQuote(path) + ", or point state_file into a directory only rotatord's user can write"}
}

// removeOrphans deletes the temp files of Saves that a crash cut short.
// Only the store's own pattern, and only regular files: it runs under the
// lock, so no other live Store can be writing one.
func (s *Store) removeOrphans() {
	dir, prefix := filepath.Split(s.path)
	prefix = "." + prefix + ".tmp-"
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		s.log.Warn("state directory not listed for leftover temp files", "error", err.Error())
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if err := os.Remove(name); err != nil {
			s.log.Warn("leftover state temp file not removed", "path", name, "error", err.Error())
			continue
		}
		s.log.Info("removed leftover state temp file", "path", name)
	}
}
