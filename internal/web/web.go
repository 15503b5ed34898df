package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/rotatord/rotatord/internal/safefile"
)

const (
	// shutdownTimeout bounds how long Serve waits for in-flight scrapes once
	// its context is done; a stuck client must not hold up daemon shutdown.
	shutdownTimeout = 5 * time.Second
	// readHeaderTimeout stops slow-loris clients from pinning connections.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout lets keep-alive scrapers reuse connections between scrapes
	// (typical intervals are 15–60 s) without keeping them forever.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes is plenty for a scraper or probe; anything bigger is abuse.
	maxHeaderBytes = 16 << 10
	// writeTimeout bounds a whole response; a scrape that takes this long
	// has a bigger problem than a cut-off response.
	writeTimeout = 30 * time.Second
)

// Options configures Listen.
type Options struct {
	Listen        string              // host:port; port 0 picks a free port
	WebConfigFile string              // exporter-toolkit web config (TLS, basic auth); "" → plain HTTP
	Gatherer      prometheus.Gatherer // what /metrics serves
	Healthy       func() error        // liveness: nil when the daemon is not wedged; nil func → always healthy
	Ready         func() error        // readiness: nil once config is loaded and the scheduler runs; nil func → always ready
	Logger        *slog.Logger        // nil discards
}

// Server is a bound, not yet serving, HTTP listener. Call Serve once.
type Server struct {
	listener  net.Listener
	srv       *http.Server
	webConfig string
	logger    *slog.Logger
}

// Listen checks the web config file and binds o.Listen. An unusable web config
// or an address that cannot be bound (already in use, bad host) is an error,
// so the daemon can refuse to start.
func Listen(o Options) (*Server, error) {
	if o.Gatherer == nil {
		return nil, errors.New("web: Options.Gatherer is nil")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	logger := o.Logger
	if err := validate(o.WebConfigFile); err != nil {
		return nil, &ConfigError{Err: err}
	}
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		// Say the address once: "listen tcp ADDR: bind: ..." names it again.
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	return &Server{
		listener:  l,
		webConfig: o.WebConfigFile,
		logger:    logger.With("component", "web"),
		srv: &http.Server{
			Handler:           newMux(o),
			ReadHeaderTimeout: readHeaderTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}, nil
}

// Addr returns the address the server is bound to, with the real port when
// Options.Listen asked for port 0.
func (s *Server) Addr() string {
	return s.listener.Addr().String()
}

// Serve answers requests until ctx is done, then shuts down, giving in-flight
// requests up to 5 s. It returns nil after a clean shutdown, and the error of
// the listener or of the shutdown otherwise.
func (s *Server) Serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() {
		flags := &web.FlagConfig{WebConfigFile: &s.webConfig}
		served <- web.Serve(s.listener, s.srv, flags, s.logger)
	}()

	select {
	case err := <-served:
		// The listener failed on its own, or the web config file became
		// unusable after Listen checked it; web.Serve leaves l open then.
		_ = s.listener.Close()
		return fmt.Errorf("serve on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}

	// A fresh context: ctx is already done, yet shutdown deserves its bound.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutdownErr := s.srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		// Connections that outlived the bound are cut so no goroutine lingers.
		_ = s.srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", s.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shut down %s: %w", s.Addr(), shutdownErr)
	}
	return nil
}

// ConfigError is Listen's error for an unusable web config file, as
// opposed to an address it cannot bind. Its text names the file.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// maxWebConfigSize bounds the web config file: a few users and TLS paths.
const maxWebConfigSize = 1 << 20

// yamlLines finds the lines yaml errors name.
var yamlLines = regexp.MustCompile(`line (\d+)`)

// validate checks the web config file as exporter-toolkit will read it. The
// file is first opened as safefile does, so a FIFO cannot block startup and
// /dev/zero cannot fill memory. exporter-toolkit's YAML errors quote the
// offending value, which may be a password hash, so they are replaced by
// their line numbers.
func validate(path string) error {
	if path == "" {
		return nil
	}
	f, _, err := safefile.Open(path, safefile.Rules{MaxSize: maxWebConfigSize})
	var pe *fs.PathError
	var se *safefile.Error
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("web config file %w", se) // se names the path
	case errors.As(err, &pe) && pe.Path == path:
		return fmt.Errorf("web config file %s: %w", path, pe.Err) // say the file once
	case err != nil:
		return fmt.Errorf("web config file %s: %w", path, err)
	}
	f.Close()
	err = web.Validate(path)
	if err == nil {
		return nil
	}
	if msg := err.Error(); strings.HasPrefix(msg, "yaml: ") {
		var lines []string
		for _, m := range yamlLines.FindAllStringSubmatch(msg, -1) {
			if !slices.Contains(lines, m[1]) {
				lines = append(lines, m[1])
			}
		}
		where := ""
		if len(lines) > 0 {
			where = " at line " + strings.Join(lines, ", ")
		}
		return fmt.Errorf("web config file %s: invalid YAML%s (not quoted here: it may hold password hashes); "+
			"see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md", path, where)
	}
	return fmt.Errorf("web config file %s: %w", path, err)
}

// newMux expects o.Logger to be set.
func newMux(o Options) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		// A failing collector must not blank the whole scrape: serve what
		// gathered and let the missing series speak for themselves.
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		MaxRequestsInFlight: 4,
	}))
	mux.Handle("GET /healthz", probe(o.Healthy))
	mux.Handle("GET /readyz", probe(o.Ready))
	return mux
}

// probe answers 200 "ok" while check passes and 503 with its reason otherwise.
// The reason is an operator-facing sentence from the daemon, never a secret.
func probe(check func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if check != nil {
			if err := check(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, err.Error())
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
}
