package state

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rotatord/rotatord/internal/clock"
	"github.com/rotatord/rotatord/internal/safefile"
)

// Version is the file format this package writes and reads.
const Version = 1

// MaxSize bounds the state file Open reads. A record takes about 250 bytes
// (550 with the longest LastError), so an inventory at its own 64 MiB cap,
// some 240,000 data sources, stays well under it.
const MaxSize = 256 << 20

// saveTimeout bounds a Save to the state blob, retries included: a save
// waits for no rotation, but holds the next one.
const saveTimeout = 30 * time.Second

// maxErrorLen caps Datasource.LastError, which should be a short
// "stage: reason"; a long upstream error is cut rather than bloating the file.
const maxErrorLen = 256

// Datasource is what rotatord remembers about one data source.
type Datasource struct {
	LastSuccess     time.Time
	LastAttempt     time.Time
	LastError       string    `json:",omitempty"` // a short "stage: reason", never a secret
	SourceVersion   string    `json:",omitempty"` // the Key Vault version last pushed
	ExpiresAt       time.Time // when the secret or token pushed expires; zero if never
	CredentialSetAt time.Time // when the credential now in Power BI was set
	// LastVerify is when the service last said whether the credential in
	// Power BI connects (zero: never asked); Verified is what it said.
	LastVerify time.Time
	Verified   bool `json:",omitempty"`
	// VerifiedVersion is the Key Vault version last pushed and verified to
	// connect: what a rollback pushes again.
	VerifiedVersion string `json:",omitempty"`
}

// File is the on-disk document.
type File struct {
	Version     int
	Datasources map[string]Datasource
}

// Options tune Open and OpenReadOnly; the zero value is valid.
type Options struct {
	Logger *slog.Logger // nil: discard
	// Clock names a corrupt file set aside (PATH.corrupt-<unix seconds>);
	// nil: clock.Real().
	Clock clock.Clock
}

// Store is the state file in memory. Its methods are safe for concurrent
// use; Save writes it out.
type Store struct {
	path     string
	log      *slog.Logger
	clock    clock.Clock
	readOnly bool // OpenReadOnly: Save refuses, a corrupt file stays where it is

	mu  sync.Mutex
	dss map[string]Datasource

	saveMu sync.Mutex // one Save at a time, so an older snapshot never lands last
	lockf  *os.File   // PATH.lock, flocked while the Store is open; nil if read-only
	closed bool       // Close was called; guarded by saveMu
	blob   *stateBlob // OpenBlob's; nil for a state file. Guarded by saveMu
}

// Open loads the state at path for the one process that writes it, and
// holds an exclusive lock on PATH.lock until Close; a second Open of the
// same path, in this process or another, fails with a *LockedError naming
// the holder's pid. A missing directory is created 0700 (its parent must
// exist). The directory, and the file if there is one, must belong to the
// running user and be writable by no other user (group write only for the
// user's own primary group), or Open fails with an *UntrustedError that
// says how to fix it. Temp files a crashed Save left
// are removed. A missing file gives an empty state. A file that is not a
// valid version-1 document is logged, renamed to PATH.corrupt-<unix
// seconds> and replaced by an empty state. Any other error is a deployment
// problem (wrong path, missing volume, permissions) that Save would hit too.
func Open(path string, o Options) (*Store, error) {
	return open(path, o, false)
}

// OpenReadOnly loads the state at path for a command that only reads it
// (plan), which must work before the daemon ever ran: a missing file or a
// missing directory gives an empty state. A corrupt file is logged and read
// as empty, as Open would start, but left where it is. A file that cannot be
// read is an error, as for Open. Save on the Store fails.
func OpenReadOnly(path string, o Options) (*Store, error) {
	return open(path, o, true)
}

// Empty is a read-only Store of no file, for a command that needs no state
// at all (discover): it must not fail for a state file its user may not read.
func Empty(o Options) *Store {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return &Store{log: o.Logger.With("component", "state"), clock: o.Clock, readOnly: true, dss: map[string]Datasource{}}
}

func open(path string, o Options, readOnly bool) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	s := &Store{path: path, log: o.Logger.With("component", "state"), clock: o.Clock, readOnly: readOnly, dss: map[string]Datasource{}}
	if !readOnly {
		if err := s.lock(); err != nil {
			return nil, err
		}
	}
	// Regular files only, read non-blocking and capped: a FIFO or a link to
	// /dev/zero in its place must fail the start, not hang or fill memory.
	data, err := safefile.ReadFile(context.Background(), path, safefile.Rules{MaxSize: MaxSize})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		s.Close()
		return nil, s.fileError(err)
	}
	dss, err := decode(data)
	switch {
	case err == nil:
		s.dss = dss
	case readOnly:
		s.log.Warn("state file is corrupt; read as empty, left in place", "path", path, "error", err)
	default:
		s.setAside(err)
	}
	return s, nil
}

// lock makes the directory rotatord's, or refuses it, takes the lock and
// clears what a crashed Save left; then the state file itself is checked.
// The directory is checked before anything is created in it.
func (s *Store) lock() error {
	dir := filepath.Dir(s.path)
	// Save will need the directory: a missing volume is better reported at
	// start than after the first rotation.
	if err := ensureDir(dir); err != nil {
		return s.fileError(err)
	}
	if err := checkTrusted(s.path, dir, true); err != nil {
		return s.trustError(err)
	}
	f, err := lockFile(s.path)
	if err != nil {
		return s.trustError(err)
	}
	s.lockf = f
	s.removeOrphans()
	if err := checkTrusted(s.path, s.path, false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.Close()
		return s.trustError(err)
	}
	return nil
}

// trustError names the state file in err unless err does already.
func (s *Store) trustError(err error) error {
	var ue *UntrustedError
	var le *LockedError
	if errors.As(err, &ue) || errors.As(err, &le) {
		return err
	}
	return s.fileError(err)
}

// Close releases the state file's lock; Save fails after it. A read-only
// Store holds no lock. Close may be called more than once.
func (s *Store) Close() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.closed = true
	if s.lockf == nil {
		return nil
	}
	err := s.lockf.Close() // closing the descriptor drops the flock
	s.lockf = nil
	return err
}

// fileError names the state file once: the *fs.PathError of reading it names
// its path again, a stat of its directory names the directory.
func (s *Store) fileError(err error) error {
	if s.blob != nil {
		return fmt.Errorf("state blob %s: %w", s.path, err)
	}
	var pe *fs.PathError
	var se *safefile.Error
	switch {
	case errors.As(err, &pe) && pe.Path == s.path:
		err = pe.Err
	case errors.As(err, &se) && se.Path == s.path:
		return fmt.Errorf("state file %w", se) // "PATH: not a regular file (a device)"
	}
	return fmt.Errorf("state file %s: %w", s.path, err)
}

// decode parses a state file into normalized records.
func decode(data []byte) (map[string]Datasource, error) {
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Version != Version {
		return nil, fmt.Errorf("unsupported version %d, want %d", f.Version, Version)
	}
	dss := make(map[string]Datasource, len(f.Datasources))
	for name, d := range f.Datasources {
		d = normalize(d)
		// A time JSON cannot encode back would make every later Save fail.
		for _, t := range d.times() {
			if y := t.Year(); y < 0 || y > 9999 {
				return nil, fmt.Errorf("data source %q: time %s is outside years 0-9999", name, t)
			}
		}
		dss[name] = d
	}
	return dss, nil
}

// setAside keeps a corrupt file for a person to look at, under a name that
// the next Save will not overwrite.
func (s *Store) setAside(cause error) {
	aside := fmt.Sprintf("%s.corrupt-%d", s.path, s.clock.Now().Unix())
	if err := os.Rename(s.path, aside); err != nil {
		s.log.Error("state file is corrupt and could not be set aside; starting empty",
			"path", s.path, "error", cause, "rename_error", err)
		return
	}
	s.log.Warn("state file is corrupt; set aside, starting empty",
		"path", s.path, "moved_to", aside, "error", cause)
}

// Get returns the record for name and whether there is one.
func (s *Store) Get(name string) (Datasource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dss[name]
	return d, ok
}

// Update applies fn to the record for name (a zero record if there is none)
// and stores the result, atomically with respect to other Store methods. fn
// must not call the Store. Times are stored in UTC, truncated to the second,
// which is what survives a Save and Open, so Get returns the same before and
// after a restart.
func (s *Store) Update(name string, fn func(*Datasource)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dss[name]
	fn(&d)
	s.dss[name] = normalize(d)
}

// Prune drops every data source not named in keep, for those removed from
// the inventory.
func (s *Store) Prune(keep []string) {
	want := make(map[string]bool, len(keep))
	for _, k := range keep {
		want[k] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.dss, func(name string, _ Datasource) bool { return !want[name] })
}

// Save writes the state to its path atomically: a temporary file in the
// same directory, fsynced, then renamed over the old one, with mode 0600.
// On error the old file is left as it was and no temporary file remains.
func (s *Store) Save() error {
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	return s.SaveContext(ctx)
}

// SaveContext is Save giving up when ctx is done; only a state blob's
// write heeds ctx.
func (s *Store) SaveContext(ctx context.Context) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.readOnly {
		return s.fileError(errors.New("opened read-only"))
	}
	if s.closed {
		return s.fileError(errors.New("closed"))
	}
	if s.blob != nil {
		return s.saveBlob(ctx, s.sorted())
	}
	if err := writeAtomic(s.path, s.sorted()); err != nil {
		return s.fileError(err)
	}
	return nil
}

// record is one data source's entry, for encoding.
type record struct {
	name string
	Datasource
}

// sorted returns a copy of every record, in name order.
func (s *Store) sorted() []record {
	s.mu.Lock()
	recs := make([]record, 0, len(s.dss))
	for name, d := range s.dss {
		recs = append(recs, record{name, d})
	}
	s.mu.Unlock()
	slices.SortFunc(recs, func(a, b record) int { return strings.Compare(a.name, b.name) })
	return recs
}

// encode writes recs as json.MarshalIndent(File{...}, "", "  ") would, one
// record at a time: the whole document in memory, twice over (marshalled,
// then indented), was 10 MB of garbage per save for 10,000 data sources.
func encode(w io.Writer, recs []record) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "{\n  \"Version\": %d,\n  \"Datasources\": {", Version)
	for i, r := range recs {
		name, err := json.Marshal(r.name)
		if err != nil {
			return fmt.Errorf("encode %q: %w", r.name, err)
		}
		d, err := json.MarshalIndent(r.Datasource, "    ", "  ")
		if err != nil {
			return fmt.Errorf("encode %q: %w", r.name, err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(name)
		bw.WriteString(": ")
		bw.Write(d)
	}
	if len(recs) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("}\n}\n")
	return bw.Flush() // the first write error, if any
}

func writeAtomic(path string, recs []record) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it explicit and independent
	// of that detail, since the file names every data source we manage.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if err := encode(tmp, recs); err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	// Without the fsync a crash after the rename can leave an empty file
	// under the real name on some filesystems (ext4 delalloc, XFS).
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync temp file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename temp file: %w", err)
	}
	// Persist the rename itself; best effort, since some filesystems refuse
	// to fsync a directory and the data is already safe in the new file.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// times are the record's time fields, for the code that treats them all alike.
func (d *Datasource) times() []*time.Time {
	return []*time.Time{&d.LastSuccess, &d.LastAttempt, &d.ExpiresAt, &d.CredentialSetAt, &d.LastVerify}
}

// normalize makes a record look as it will after a Save and Open.
func normalize(d Datasource) Datasource {
	for _, t := range d.times() {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Second)
		}
	}
	if len(d.LastError) > maxErrorLen {
		// Leave room for the ellipsis so that a cut message stays within the
		// cap and is not cut again on the next load.
		cut := maxErrorLen - len("…")
		for cut > 0 && !utf8.RuneStart(d.LastError[cut]) {
			cut--
		}
		d.LastError = d.LastError[:cut] + "…"
	}
	return d
}
