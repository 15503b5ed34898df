package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in an inventory file.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem has no line (an empty file, an unreadable one)
	Msg  string
}

// Error formats e as FILE:LINE: message, the form editors and CI annotate.
func (e Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Errors is every problem found in one inventory file, sorted by line.
// Parse returns it as a *Errors so callers can list the problems one by one.
type Errors []Error

// Error joins the problems with newlines, one per line.
func (e *Errors) Error() string {
	lines := make([]string, len(*e))
	for i, err := range *e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.As.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(*e))
	for i, err := range *e {
		errs[i] = err
	}
	return errs
}

// finish sorts the problems by line, keeping the walk's order within a line,
// and drops repeats: a YAML alias walks its anchor's nodes once per use.
func (e Errors) finish() Errors {
	sort.SliceStable(e, func(i, j int) bool { return e[i].Line < e[j].Line })
	out := e[:0]
	seen := make(map[Error]bool, len(e))
	for _, err := range e {
		if !seen[err] {
			seen[err] = true
			out = append(out, err)
		}
	}
	return out
}
