// Package secret holds the redacting Secret type that every credential value
// travels in between rotatord's packages.
//
// A Secret prints, logs and marshals as "REDACTED" whatever the formatting
// path (fmt verbs, slog, encoding/json, encoding.TextMarshaler), so that a
// value can only reach the outside through an explicit, greppable Reveal call.
//
// It also owns scrubbing: a rotation puts its secret values into its context
// with WithValues, and every error message built under that context is
// checked (Leaks) or cleaned (Scrub) against them, in their plain and
// JSON-escaped forms, whatever was sent encrypted: a service that echoes a
// request may echo the plain value it decrypted.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Secret shows instead of its value.
const Redacted = "REDACTED"

// Secret is an opaque secret value. The zero value is the empty secret.
//
// The bytes sit two pointers deep: fmt and slog cannot call the redacting
// methods of a Secret reached through another type's unexported field and
// print such a field by reflection instead. Below the top level fmt prints a
// pointer as its address; a bad verb (%s on a pointer) prints one level of
// what it points to, which here is only another address.
type Secret struct {
	v *payload
	_ [0]func() // not comparable: == would compare pointers, not values
}

type payload struct{ b *[]byte }

// New returns a Secret holding a copy of b.
func New(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	c := append([]byte(nil), b...)
	return Secret{v: &payload{b: &c}}
}

func (s Secret) bytes() []byte {
	if s.v == nil {
		return nil
	}
	return *s.v.b
}

// FromString returns a Secret holding s.
func FromString(s string) Secret { return New([]byte(s)) }

// Reveal returns the secret bytes. Callers must not keep, log or modify them;
// every call site is a place where the value leaves the type on purpose.
func (s Secret) Reveal() []byte { return s.bytes() }

// RevealString returns the secret as a string; see Reveal.
func (s Secret) RevealString() string { return string(s.bytes()) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return len(s.bytes()) == 0 }

// Len returns the length of the secret in bytes; lengths are not secret.
func (s Secret) Len() int { return len(s.bytes()) }

// Equal reports whether two secrets hold the same bytes.
func (s Secret) Equal(o Secret) bool { return string(s.bytes()) == string(o.bytes()) }

// String implements fmt.Stringer.
func (Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v redacts too.
func (Secret) GoString() string { return "secret.Secret{" + Redacted + "}" }

// Format implements fmt.Formatter: every verb prints the redaction marker.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
