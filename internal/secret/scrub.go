package secret

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
)

// MinScrubLen is the shortest value Scrub and Leaks look for: shorter values
// would match innocent words of a message.
const MinScrubLen = 4

// scrubKey is the context key of a rotation's scrub list.
type scrubKey struct{}

// scrubList holds the forms of the secret values of one rotation, longest
// first, so that a value inside a longer one is replaced as part of it.
type scrubList struct{ forms []string }

// String keeps the forms out of a printed context (context's String prints
// a value through its String method).
func (*scrubList) String() string { return Redacted }

// WithValues returns a context that also carries vs, so that every error
// message built under it can be scrubbed of them with Scrub or checked with
// Leaks. Values already in ctx are kept; values shorter than MinScrubLen are
// ignored.
func WithValues(ctx context.Context, vs ...Secret) context.Context {
	var forms []string
	if l, ok := ctx.Value(scrubKey{}).(*scrubList); ok {
		forms = slices.Clone(l.forms)
	}
	added := false
	for _, v := range vs {
		if v.Len() < MinScrubLen {
			continue
		}
		for _, f := range Forms(v.RevealString()) {
			if !slices.Contains(forms, f) {
				forms, added = append(forms, f), true
			}
		}
	}
	if !added {
		return ctx
	}
	slices.SortStableFunc(forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return context.WithValue(ctx, scrubKey{}, &scrubList{forms: forms})
}

// Forms returns v as it may show in a message: itself, and JSON-escaped
// once and twice (a value is JSON inside a credentials string, which is JSON
// inside a request body), with and without encoding/json's HTML escaping
// (\u003c for <). Duplicates are left out.
func Forms(v string) []string {
	out := []string{v}
	for _, html := range []bool{true, false} {
		once := jsonEscape(v, html)
		for _, f := range []string{once, jsonEscape(once, html)} {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// jsonEscape is s as it appears between the quotes of a JSON string.
func jsonEscape(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	q := strings.TrimSuffix(b.String(), "\n")
	return q[1 : len(q)-1]
}

// Scrub returns msg with every form of every value in ctx replaced by
// Redacted.
func Scrub(ctx context.Context, msg string) string {
	l, ok := ctx.Value(scrubKey{}).(*scrubList)
	if !ok {
		return msg
	}
	for _, f := range l.forms {
		msg = strings.ReplaceAll(msg, f, Redacted)
	}
	return msg
}

// Leaks reports whether msg holds any form of any value in ctx.
func Leaks(ctx context.Context, msg string) bool {
	l, ok := ctx.Value(scrubKey{}).(*scrubList)
	if !ok {
		return false
	}
	for _, f := range l.forms {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}
