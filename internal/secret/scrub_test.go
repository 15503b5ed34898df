package secret

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	ctx := WithValues(context.Background(), FromString(`p<a"ss\w0rd`), FromString("abc"), Secret{})
	ctx = WithValues(ctx, FromString("second-secret"))
	tests := map[string]struct {
		msg  string // what a service answered
		want string // after Scrub
	}{
		"plain":         {`login failed: p<a"ss\w0rd is wrong`, "login failed: REDACTED is wrong"},
		"json once":     {`bad value "p\u003ca\"ss\\w0rd"`, `bad value "REDACTED"`},
		"json no html":  {`bad value "p<a\"ss\\w0rd"`, `bad value "REDACTED"`},
		"json twice":    {`{\"value\":\"p\\u003ca\\\"ss\\\\w0rd\"}`, `{\"value\":\"REDACTED\"}`},
		"second call":   {"second-secret and p<a\"ss\\w0rd", "REDACTED and REDACTED"},
		"short ignored": {"abc is fine", "abc is fine"},
		"nothing":       {"no secret here", "no secret here"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Scrub(ctx, tc.msg); got != tc.want {
				t.Errorf("Scrub(%s) = %s, want %s", tc.msg, got, tc.want)
			}
			if got, want := Leaks(ctx, tc.msg), tc.msg != tc.want; got != want {
				t.Errorf("Leaks(%s) = %v, want %v", tc.msg, got, want)
			}
		})
	}
}

func TestScrubWithoutValues(t *testing.T) {
	ctx := WithValues(context.Background(), FromString("ab"))
	if got := Scrub(ctx, "ab cd"); got != "ab cd" {
		t.Errorf("Scrub = %q", got)
	}
	if Leaks(ctx, "ab") {
		t.Error("Leaks found a value shorter than MinScrubLen")
	}
}

// A context printed (as by %v) must not show the values it carries.
func TestScrubContextDoesNotPrint(t *testing.T) {
	ctx := WithValues(context.Background(), FromString(value))
	if s := fmt.Sprintf("%v %+v", ctx, ctx); strings.Contains(s, value) {
		t.Errorf("context printed the secret: %s", s)
	}
}
