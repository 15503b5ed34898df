package sources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rotatord/rotatord/internal/safefile"
	"github.com/rotatord/rotatord/internal/secret"
)

// MaxFileSize bounds a secret file. Passwords, keys, tokens and client
// secrets are at most a few KB (a Key Vault secret at most 25 KB); a bigger
// file is the wrong one (a log, an image, /dev/zero behind a link), better
// refused than read into memory and pushed as a credential.
const MaxFileSize = 64 << 10

// ReadFile reads a secret from path, such as a systemd LoadCredential= or
// Kubernetes secret volume file. It removes one trailing "\n" or "\r\n",
// which editors and `echo` add. It refuses what is not a regular file (a
// FIFO would block the tick forever), a file its group or other users can
// write, a file every user can read, an empty one and one over MaxFileSize,
// and it gives up when ctx is done.
func ReadFile(ctx context.Context, path string) (Value, error) {
	fail := func(reason, hint string, err error) (Value, error) {
		return Value{}, &Error{Source: SourceFile, Resource: path, Reason: reason, Hint: hint, Err: err}
	}
	// Besides the size: nobody but the owner may write a secret file (else
	// any local user chooses the credential rotatord pushes), and not every
	// user may read it. Group read is fine: systemd LoadCredential= files
	// can be 0440, and a Kubernetes fsGroup adds g+r.
	b, err := safefile.ReadFile(ctx, path, safefile.Rules{MaxSize: MaxFileSize, Deny: 0o026})
	var se *safefile.Error
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		return fail(ReasonNotFound, "check the path", nil)
	case errors.Is(err, fs.ErrPermission):
		return fail(ReasonForbidden, "rotatord's user cannot read it; check owner and mode", nil)
	case errors.Is(err, context.DeadlineExceeded):
		return fail(ReasonTimeout, "", nil)
	case errors.Is(err, context.Canceled):
		return fail(ReasonCanceled, "", nil)
	case !errors.As(err, &se):
		return fail(ReasonFailed, "", err) // *PathError: path and errno only
	case errors.Is(err, safefile.ErrNotRegular):
		return fail(ReasonNotRegular, "a secret must be a regular file; point the source at the file itself", errors.New(safefile.DescribeType(se.Mode)+", not a regular file"))
	case errors.Is(err, safefile.ErrTooLarge):
		return fail(ReasonFileTooLarge, "is this the right file?", errors.New("larger than "+safefile.FormatSize(MaxFileSize)))
	case se.Mode.Perm()&0o022 != 0:
		return fail(ReasonWritableByOthers, "run "+se.Fix()+"; for a Kubernetes secret volume set defaultMode: 0400",
			fmt.Errorf("mode %04o lets users other than the owner write it", se.Mode.Perm()))
	default:
		return fail(ReasonWorldReadable, fmt.Sprintf("run chmod 600 %s (for a Kubernetes secret volume set defaultMode: 0400)", safefile.ShellQuote(path)),
			fmt.Errorf("mode %s lets every user read it", se.Mode.Perm()))
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
