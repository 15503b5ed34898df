package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/daemon"
)

const defaultConfig = "/etc/rotatord/config.yaml"

// commonFlags are the flags of every command that reads the inventory.
type commonFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func (c *commonFlags) register(fs *flag.FlagSet, config string) {
	fs.StringVar(&c.config, "config", config, "the inventory `FILE`")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// logger builds the slog logger the flags ask for.
func (c *commonFlags) logger(env *Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", c.logFormat)
}

// lookupEnv adapts Env.Getenv; an empty variable counts as unset, which is
// what a secret source wants.
func (env *Env) lookupEnv(name string) (string, bool) {
	v := env.Getenv(name)
	return v, v != ""
}

// loadDaemon reads the inventory and assembles the daemon, printing why not
// and returning ExitUsage when it cannot.
func loadDaemon(ctx context.Context, env *Env, cmd string, c *commonFlags, o daemon.Options) (*daemon.Daemon, int) {
	cfg, err := config.Load(ctx, c.config)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rotatord %s: %v\n", cmd, err)
		return nil, ExitUsage
	}
	d, code := newDaemon(env, cmd, c, cfg, o)
	if d != nil && o.ReadOnly {
		// plan and verify read a state blob now; run and once when they start.
		if err := d.LoadState(ctx); err != nil {
			d.Close()
			fmt.Fprintf(env.Stderr, "rotatord %s: %v\n", cmd, err)
			return nil, ExitUsage
		}
	}
	return d, code
}

// newDaemon assembles the daemon for cfg, as loadDaemon does.
func newDaemon(env *Env, cmd string, c *commonFlags, cfg *config.Config, o daemon.Options) (*daemon.Daemon, int) {
	log, err := c.logger(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "rotatord %s: %v\n", cmd, err)
		return nil, ExitUsage
	}
	o.Logger = log
	if o.LookupEnv == nil {
		o.LookupEnv = env.lookupEnv
	}
	o.Version, o.Revision = version(), revision()
	d, err := daemon.New(cfg, o)
	if err != nil {
		// It starts with FILE:LINE of the setting refused, as check's do.
		fmt.Fprintf(env.Stderr, "rotatord %s: %v\n", cmd, err)
		return nil, ExitUsage
	}
	return d, ExitOK
}

// inventoryFlags describes the command line of a command that reads the
// inventory: the shared -config, -log-format and -log-level, and its own.
type inventoryFlags struct {
	name, synopsis, help string              // as for newFlagSet
	more                 func(*flag.FlagSet) // defines the command's own flags; nil: none
	noDefaultConfig      bool                // -config is optional: "" unless given
}

// parse parses args, which may not hold positional arguments. ok is false
// when the command is done (-h, a bad flag, an argument) and must exit with
// code; parse has printed why.
func (f inventoryFlags) parse(env *Env, args []string) (c *commonFlags, code int, ok bool) {
	c = &commonFlags{}
	fs := newFlagSet(env, f.name, f.synopsis, f.help)
	def := defaultConfig
	if f.noDefaultConfig {
		def = ""
	}
	c.register(fs, def)
	if f.more != nil {
		f.more(fs)
	}
	if code, ok := parseFlags(env, fs, args); !ok {
		return nil, code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q (see -h)\n", fs.Name(), fs.Arg(0))
		return nil, ExitUsage, false
	}
	return c, ExitOK, true
}

func runCheck(ctx context.Context, env *Env, args []string) int {
	c, code, ok := inventoryFlags{name: "check", synopsis: "[-config FILE]",
		help: "Validates the inventory offline and prints every problem as FILE:LINE: message.\n"}.parse(env, args)
	if !ok {
		return code
	}
	cfg, err := config.Load(ctx, c.config)
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	}
	fmt.Fprintf(env.Stdout, "%s: ok, %d datasources\n", cfg.Path, len(cfg.Datasources))
	return ExitOK
}

// names is a repeatable string flag.
type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(v string) error { *n = append(*n, v); return nil }

func runOnce(ctx context.Context, env *Env, args []string) int {
	var only names
	c, code, ok := inventoryFlags{name: "once", synopsis: "[-config FILE] [-only NAME]...",
		help: "Rotates every data source (or the named ones) now, with retries, and exits:\n" +
			"0 when all succeeded, 1 when any failed, 2 on bad usage or configuration.\n",
		more: func(fs *flag.FlagSet) {
			fs.Var(&only, "only", "rotate only the data source `NAME` (repeatable)")
		}}.parse(env, args)
	if !ok {
		return code
	}
	d, code := loadDaemon(ctx, env, "once", c, daemon.Options{})
	if d == nil {
		return code
	}
	defer d.Close()
	failed, err := d.Once(ctx, only)
	var unknown *daemon.UnknownDatasourceError
	switch {
	case errors.As(err, &unknown):
		fmt.Fprintf(env.Stderr, "rotatord once: %v\n", err)
		return ExitUsage
	case err != nil:
		fmt.Fprintf(env.Stderr, "rotatord once: %v\n", err)
		return ExitFailure
	case failed > 0:
		return ExitFailure
	}
	return ExitOK
}

func runPlan(ctx context.Context, env *Env, args []string) int {
	c, code, ok := inventoryFlags{name: "plan", synopsis: "[-config FILE]",
		help: "Resolves every data source's secret and gateway key and compares its users, then prints\n" +
			"what a rotation would do. Sends no PATCH, POST or DELETE and prints no secret.\n"}.parse(env, args)
	if !ok {
		return code
	}
	// Read-only: plan must work before the daemon ever ran, state directory or not.
	d, code := loadDaemon(ctx, env, "plan", c, daemon.Options{ReadOnly: true})
	if d == nil {
		return code
	}
	defer d.Close()
	if d.Plan(ctx, env.Stdout) > 0 {
		return ExitFailure
	}
	return ExitOK
}

func runVerify(ctx context.Context, env *Env, args []string) int {
	var only names
	c, code, ok := inventoryFlags{name: "verify", synopsis: "[-config FILE] [-only NAME]...",
		help: "Asks Power BI whether the gateway connects to every data source (or the named ones)\n" +
			"with the credential it holds now, and prints one line each: name, result, reason.\n" +
			"Reads no secret, sends no PATCH and writes no state. Exits 0 when all connect,\n" +
			"1 when any does not, 2 on bad usage or configuration.\n",
		more: func(fs *flag.FlagSet) {
			fs.Var(&only, "only", "check only the data source `NAME` (repeatable)")
		}}.parse(env, args)
	if !ok {
		return code
	}
	d, code := loadDaemon(ctx, env, "verify", c, daemon.Options{ReadOnly: true})
	if d == nil {
		return code
	}
	defer d.Close()
	failed, err := d.Verify(ctx, env.Stdout, only)
	switch {
	case err != nil:
		fmt.Fprintf(env.Stderr, "rotatord verify: %v\n", err)
		return ExitUsage // an -only name the inventory lacks
	case failed > 0:
		return ExitFailure
	}
	return ExitOK
}

func runRun(ctx context.Context, env *Env, args []string) int {
	var webConfig string
	c, code, ok := inventoryFlags{name: "run", synopsis: "[-config FILE] [-web.config.file FILE]",
		help: "Runs the daemon: rotates every data source on its schedule and serves /metrics,\n" +
			"/healthz and /readyz. SIGHUP (or a changed file) reloads the inventory;\n" +
			"SIGTERM stops after the rotations in flight.\n",
		more: func(fs *flag.FlagSet) {
			fs.StringVar(&webConfig, "web.config.file", "", "Prometheus exporter-toolkit web config `FILE` (TLS, basic auth)")
		}}.parse(env, args)
	if !ok {
		return code
	}
	return serve(ctx, env, "run", c, daemon.Options{WebConfigFile: webConfig})
}

// serve runs the daemon until ctx is done, with SIGHUP reloading and
// systemd told when it is ready and when it stops.
func serve(ctx context.Context, env *Env, cmd string, c *commonFlags, o daemon.Options) int {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	stopForward := make(chan struct{})
	defer close(stopForward)
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-stopForward:
				return
			}
		}
	}()
	o.Reload = reload
	o.Notify = func(state string) { _, _ = sdnotify.SdNotify(false, state) }

	d, code := loadDaemon(ctx, env, cmd, c, o)
	if d == nil {
		return code
	}
	defer d.Close()
	srv, err := d.Listen()
	if err != nil {
		fmt.Fprintf(env.Stderr, "rotatord %s: %v\n", cmd, err)
		return ExitUsage
	}
	if err := d.Run(ctx, srv); err != nil {
		fmt.Fprintf(env.Stderr, "rotatord %s: %v\n", cmd, err)
		return ExitFailure
	}
	return ExitOK
}
