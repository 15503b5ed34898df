package sources

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/rotatord/rotatord/internal/secret"
)

// maxFileSize bounds a secret file; secrets are small, and a huge file is a
// misconfiguration (a log, an image) better refused than read.
const maxFileSize = 1 << 20

// ReadFile reads a secret from path, such as a systemd LoadCredential= or
// Kubernetes secret volume file. It removes one trailing "\n" or "\r\n",
// which editors and `echo` add, and refuses empty files and files that every
// user on the host can read.
func ReadFile(path string) (Value, error) {
	fail := func(reason, hint string, err error) (Value, error) {
		return Value{}, &Error{Source: SourceFile, Resource: path, Reason: reason, Hint: hint, Err: err}
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(ReasonNotFound, "check the path", nil)
	case errors.Is(err, fs.ErrPermission):
		return fail(ReasonForbidden, "rotatord's user cannot read it; check owner and mode", nil)
	case err != nil:
		return fail(ReasonFailed, "", err) // *PathError: path and errno only
	}
	defer f.Close()
	// Stat the open file, not the path, so a swap between check and read
	// cannot slip a world-readable file past the check.
	st, err := f.Stat()
	if err != nil {
		return fail(ReasonFailed, "", err)
	}
	if !st.Mode().IsRegular() {
		return fail(ReasonInvalid, "not a regular file", nil)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return fail(ReasonWorldReadable, fmt.Sprintf("run chmod 600 %s (for a Kubernetes secret volume set defaultMode: 0400)", path),
			fmt.Errorf("mode %s lets every user read it", st.Mode().Perm()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fail(ReasonFailed, "", err)
	}
	if len(b) > maxFileSize {
		return fail(ReasonInvalid, "larger than 1 MiB; is this the right file?", nil)
	}
	b = trimOneNewline(b)
	if len(b) == 0 {
		return fail(ReasonEmpty, "the file is empty", nil)
	}
	return Value{Secret: secret.New(b)}, nil
}

func trimOneNewline(b []byte) []byte {
	if n := len(b); n >= 2 && b[n-2] == '\r' && b[n-1] == '\n' {
		return b[:n-2]
	}
	if n := len(b); n >= 1 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// FromEnv reads a secret from the environment variable name through lookup
// (os.LookupEnv if nil). A missing or empty variable is an error.
func FromEnv(lookup func(string) (string, bool), name string) (Value, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(name)
	switch {
	case !ok:
		return Value{}, &Error{Source: SourceEnv, Resource: name, Reason: ReasonNotFound,
			Hint: "variable " + name + " is not set in rotatord's environment"}
	case strings.TrimSpace(v) == "":
		return Value{}, &Error{Source: SourceEnv, Resource: name, Reason: ReasonEmpty,
			Hint: "variable " + name + " is set but empty"}
	}
	return Value{Secret: secret.FromString(v)}, nil
}
