package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes. systemd units can list ExitUsage in RestartPreventExitStatus=
// so a bad invocation or config does not crash-loop.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed (a rotation, a write)
	ExitUsage   = 2 // bad usage, input or configuration; retrying will not help
)

// Env is what a subcommand may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// Command is one rotatord subcommand.
type Command struct {
	Name    string
	Summary string // one line for `rotatord -h`
	Run     func(ctx context.Context, env *Env, args []string) int
}

// commands is the table of subcommands, in the order `rotatord -h` lists them.
func commands() []Command {
	return []Command{
		{Name: "run", Summary: "run the daemon: rotate on schedule, serve /metrics /healthz /readyz", Run: runRun},
		{Name: "once", Summary: "rotate every data source (or -only NAME) now and exit; 1 if any failed", Run: runOnce},
		{Name: "plan", Summary: "show what a rotation would do, changing nothing", Run: runPlan},
		{Name: "verify", Summary: "check that every data source (or -only NAME) connects, changing nothing; 1 if any does not", Run: runVerify},
		{Name: "discover", Summary: "print an inventory of what the identity can see in Power BI, or -diff it with -config", Run: runDiscover},
		{Name: "check", Summary: "validate the inventory offline; every error as FILE:LINE: message", Run: runCheck},
		{Name: "demo", Summary: "run the daemon against in-process emulators with a sample inventory", Run: runDemo},
		{Name: "encrypt", Summary: "print a data source's credentials string, encrypted with a gateway key", Run: runEncrypt},
		{Name: "version", Summary: "print rotatord's version", Run: runVersion},
	}
}

// Run runs the subcommand args[0] with the rest of args and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	return dispatch(ctx, env, commands(), args)
}

func dispatch(ctx context.Context, env *Env, cmds []Command, args []string) int {
	if len(args) == 0 {
		printUsage(env.Stderr, cmds)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			// `rotatord help encrypt` is `rotatord encrypt -h`.
			return dispatch(ctx, env, cmds, []string{args[1], "-h"})
		}
		printUsage(env.Stdout, cmds)
		return ExitOK
	}
	for _, c := range cmds {
		if c.Name == name {
			return c.Run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "rotatord: unknown command %q; run 'rotatord -h' for the list\n", name)
	return ExitUsage
}

func printUsage(w io.Writer, cmds []Command) {
	var b strings.Builder
	b.WriteString("Usage: rotatord COMMAND [flags]\n\n")
	b.WriteString("rotatord keeps the credentials of Power BI gateway data sources fresh.\n\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-9s %s\n", c.Name, c.Summary)
	}
	b.WriteString("\nRun 'rotatord COMMAND -h' for a command's flags.\n")
	_, _ = io.WriteString(w, b.String())
}

// newFlagSet returns the flag set for subcommand name. synopsis follows
// "rotatord NAME" on the usage line; help is the text before the flags.
func newFlagSet(env *Env, name, synopsis, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("rotatord "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rotatord %s %s\n\n%s\nFlags:\n", name, synopsis, help)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. On -h it prints the help and returns
// ExitOK; on a bad flag it prints one line and returns ExitUsage; ok reports
// whether the command should go on.
func parseFlags(env *Env, fs *flag.FlagSet, args []string) (code int, ok bool) {
	// The flag package prints the whole usage after every error; one line
	// that says what is wrong is easier to read in a terminal or a journal.
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(env.Stderr)
	fs.Usage = usage
	switch {
	case err == nil:
		return ExitOK, true
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return ExitOK, false
	default:
		fmt.Fprintf(env.Stderr, "%s: %v (see -h)\n", fs.Name(), err)
		return ExitUsage, false
	}
}
