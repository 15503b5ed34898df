package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const value = "hunter2-p@ss"

func TestSecretNeverPrints(t *testing.T) {
	s := FromString(value)
	type wrapper struct {
		Name string
		S    Secret
		P    *Secret
	}
	w := wrapper{Name: "x", S: s, P: &s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, w))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(s, &s))
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("msg", "secret", s, "ptr", &s, "any", slog.AnyValue(w))
	}
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, value) {
			t.Errorf("secret leaked: %s", o)
		}
		if !strings.Contains(o, Redacted) {
			t.Errorf("output lacks the redaction marker: %s", o)
		}
	}
}

// fmt and slog cannot call a Secret's methods through another type's
// unexported field and print it by reflection: that must still not show the
// value, in any encoding.
func TestSecretInUnexportedField(t *testing.T) {
	type resolved struct {
		fields map[string]Secret
		one    Secret
	}
	r := resolved{fields: map[string]Secret{"password": FromString(value)}, one: FromString(value)}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, r), fmt.Sprintf(verb, &r))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("msg", "resolved", r, "ptr", &r)
	}
	outs = append(outs, buf.String())
	forms := []string{value, fmt.Sprintf("%x", value), fmt.Sprintf("%X", value), fmt.Sprint([]byte(value))[1:20]}
	for _, o := range outs {
		for _, f := range forms {
			if strings.Contains(o, f) {
				t.Errorf("secret leaked as %q: %s", f, o)
			}
		}
	}
}

func TestReveal(t *testing.T) {
	src := []byte(value)
	s := New(src)
	src[0] = 'X' // New copies
	if got := s.RevealString(); got != value {
		t.Fatalf("Reveal = %q, want %q", got, value)
	}
	if s.Len() != len(value) || s.IsZero() || !s.Equal(FromString(value)) {
		t.Fatal("Len/IsZero/Equal disagree with the value")
	}
	if !(Secret{}).IsZero() || !New(nil).IsZero() {
		t.Fatal("empty secrets must be zero")
	}
}
