package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/rotatord/rotatord/internal/cipher"
)

// Version is rotatord's version, set when building a release:
//
//	go build -ldflags "-X github.com/rotatord/rotatord/internal/cli.Version=v1.2.3" ./cmd/rotatord
//
// Empty means: derive it from the build information. rotatord's other
// package-level variables are read-only (sentinel errors, compiled patterns,
// lookup tables); this is the one that is set, and only the linker sets it.
var Version string

// version returns Version, or else the module version `go install` records,
// or else the VCS revision of a local build.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if rev := revision(); rev != "" {
		return "devel+" + rev
	}
	return "devel"
}

// revision returns the VCS revision the binary was built from, shortened,
// with "-dirty" when the tree had changes; "" when the build did not record
// one (go install, go test).
func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(12, len(rev))] + dirty
}

func runVersion(_ context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "version", "", "Prints rotatord's version, the Go version that built it, the platform, and the FIPS 140-3 mode.\n")
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(env.Stderr, "rotatord version: takes no arguments")
		return ExitUsage
	}
	if _, err := fmt.Fprintf(env.Stdout, "rotatord %s (%s %s/%s; fips140 %s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH, cipher.FIPSMode()); err != nil {
		fmt.Fprintf(env.Stderr, "rotatord version: write stdout: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}
