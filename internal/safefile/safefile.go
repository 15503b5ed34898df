package safefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// Why a file is refused; test with errors.Is.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("too large")
	ErrMode       = errors.New("mode too open")
)

// Rules say what a file must be to be read.
type Rules struct {
	// MaxSize is the most bytes the file may hold; a larger one is refused
	// with ErrTooLarge. Zero or less means no limit, which only a caller
	// that reads through its own limit should ask for.
	MaxSize int64
	// Deny holds permission bits that must all be clear, e.g. 0o022 for
	// "nobody but the owner may write it".
	Deny fs.FileMode
}

// Error is a file refused by Open or ReadFile.
type Error struct {
	Path string
	Err  error       // ErrNotRegular, ErrTooLarge or ErrMode
	Mode fs.FileMode // the opened file's type and permission bits
	Max  int64       // ErrTooLarge: the limit
	Deny fs.FileMode // ErrMode: the denied bits
}

func (e *Error) Error() string {
	switch e.Err {
	case ErrNotRegular:
		return fmt.Sprintf("%s: not a regular file (%s)", e.Path, DescribeType(e.Mode))
	case ErrTooLarge:
		return fmt.Sprintf("%s: larger than %s", e.Path, FormatSize(e.Max))
	case ErrMode:
		return fmt.Sprintf("%s: mode %04o lets %s (run %s)", e.Path, e.Mode.Perm(), who(e.Mode.Perm()&e.Deny), e.Fix())
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns the reason, one of the Err variables.
func (e *Error) Unwrap() error { return e.Err }

// Fix returns the command that clears the denied bits, e.g.
// "chmod go-w /etc/rotatord/secret"; "" unless Err is ErrMode.
func (e *Error) Fix() string {
	if e.Err != ErrMode {
		return ""
	}
	bad := e.Mode.Perm() & e.Deny
	var parts []string
	for _, c := range []struct {
		class string
		shift uint
	}{{"u", 6}, {"g", 3}, {"o", 0}} {
		bits := (bad >> c.shift) & 0o7
		if bits == 0 {
			continue
		}
		var rwx string
		for i, l := range "rwx" {
			if bits&(0o4>>i) != 0 {
				rwx += string(l)
			}
		}
		// Classes with the same bits share one clause: go-w, not g-w,o-w.
		if n := len(parts); n > 0 && strings.HasSuffix(parts[n-1], "-"+rwx) {
			parts[n-1] = strings.TrimSuffix(parts[n-1], "-"+rwx) + c.class + "-" + rwx
			continue
		}
		parts = append(parts, c.class+"-"+rwx)
	}
	return "chmod " + strings.Join(parts, ",") + " " + ShellQuote(e.Path)
}

// ShellQuote quotes path for a shell when it needs it, so the command in a
// message can be pasted as it is.
func ShellQuote(path string) string {
	if path != "" && strings.Trim(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// who says in words what the denied bits present allow.
func who(bad fs.FileMode) string {
	var s []string
	if bad&0o020 != 0 {
		s = append(s, "its group write it")
	}
	if bad&0o002 != 0 {
		s = append(s, "every user write it")
	} else if bad&0o004 != 0 {
		s = append(s, "every user read it")
	}
	if len(s) == 0 {
		return "more than it should"
	}
	return strings.Join(s, " and ")
}

// DescribeType names the type of a file in words: "a named pipe (FIFO)",
// "a device", "a directory".
func DescribeType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "type " + m.Type().String()
}

// FormatSize prints a limit the way messages and the README say it: 64 MiB.
func FormatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Open opens path for reading and checks the opened file against r: a
// regular file, none of r.Deny's bits set, at most r.MaxSize bytes as
// stat'ed now. The caller reads it, through a limit of r.MaxSize+1 if the
// file may still grow, and closes it. Symlinks are followed (Kubernetes
// volumes are links into ..data/); the file they reach is what is checked.
// A failure to open is the *fs.PathError of os.OpenFile.
func Open(path string, r Rules) (*os.File, fs.FileInfo, error) {
	// O_NONBLOCK: open(2) of a FIFO with no writer would block until one
	// comes. It has no effect on a regular file, the only kind read.
	// O_NOCTTY: a terminal must not become rotatord's controlling one.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := Check(path, fi, r); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Check applies r to fi, the fstat of an opened path: for callers that open
// files their own way (a state file opened for writing).
func Check(path string, fi fs.FileInfo, r Rules) error {
	m := fi.Mode()
	switch {
	case !m.IsRegular():
		return &Error{Path: path, Err: ErrNotRegular, Mode: m}
	case m.Perm()&r.Deny != 0:
		return &Error{Path: path, Err: ErrMode, Mode: m, Deny: r.Deny}
	case r.MaxSize > 0 && fi.Size() > r.MaxSize:
		return &Error{Path: path, Err: ErrTooLarge, Mode: m, Max: r.MaxSize}
	}
	return nil
}

// readChunk is how much is read between two looks at the context.
const readChunk = 64 << 10

// ReadFile opens path as Open does and reads it whole. It returns when ctx
// is done, with ctx's error, even if a read is stuck in the kernel; the
// read then finishes (and the file is closed) in the background.
func ReadFile(ctx context.Context, path string, r Rules) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned read must not block
	go func() {
		b, err := readFile(ctx, path, r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read %s: %w", path, ctx.Err())
	}
}

func readFile(ctx context.Context, path string, r Rules) ([]byte, error) {
	f, fi, err := Open(path, r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var src io.Reader = f
	if r.MaxSize > 0 {
		src = io.LimitReader(f, r.MaxSize+1) // +1: a file that grew past the limit is seen to
	}
	// Size the buffer from the stat, so a large inventory is not copied
	// through doubling appends; the limit bounds it.
	b := make([]byte, 0, fi.Size()+1)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := src.Read(b[len(b):min(cap(b), len(b)+readChunk)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if r.MaxSize > 0 && int64(len(b)) > r.MaxSize {
		return nil, &Error{Path: path, Err: ErrTooLarge, Mode: fi.Mode(), Max: r.MaxSize}
	}
	return b, nil
}
