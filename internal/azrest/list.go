package azrest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// MaxPages bounds one listing: the services page, if ever, by hundreds or
// thousands of items, so a thousand pages is a server (or proxy) that never
// stops sending links.
const MaxPages = 1000

// MaxListing bounds the bodies of one listing's pages together: 1000 pages
// of a 4 MiB body limit would be 4 GB. 64 MiB holds a gateway of 100,000
// data sources, or a users list of 200,000.
const MaxListing = 64 << 20

// Listing is one paged listing to read.
type Listing[T any] struct {
	Op       string   // the operation, for errors and OnResponse
	Path     []string // of the first page, as Request.Path
	MaxBytes int      // the pages' bodies together; 0 → MaxListing
	// Read decodes one page: its items, and the link to the next page,
	// whose URL is "" on the last. An error is the page not being the
	// document due; it must not quote the body.
	Read func(body []byte) (items []T, next Link, err error)
}

// Link is a listing's link to its next page.
type Link struct {
	URL string // absolute
	// Field names the link in errors and hints as the answer gave it:
	// "@odata.nextLink", "continuationUri".
	Field string
}

// List GETs the first page of l and every page it chains to, and returns
// their items in order. Each page is one call of Do, with its own retries,
// re-authorization and Retry-After waits, reported to OnResponse under
// l.Op. A next page's link is followed only when CheckLink accepts it and
// it leads to no page of the listing read before; the listing fails at its
// MaxPages-th page that still links to another, and once its pages hold
// more than MaxBytes. It returns nothing of a listing it could not finish:
// a partial list would read as a complete one.
func List[T any](ctx context.Context, c *Client, l Listing[T]) ([]T, error) {
	maxBytes := l.MaxBytes
	if maxBytes <= 0 {
		maxBytes = MaxListing
	}
	var all []T
	total := 0 // bytes of the pages read
	r := Request{Op: l.Op, Method: http.MethodGet, Path: l.Path}
	seen := map[string]bool{}
	for n := 1; ; n++ {
		resp, err := c.Do(ctx, r)
		if err != nil {
			return nil, err
		}
		if total += len(resp.Body); total > maxBytes {
			return nil, c.pagingError(ctx, l.Op, fmt.Sprintf("the %d pages read hold more than %d MiB", n, maxBytes>>20), c.hints.TooLarge)
		}
		items, next, err := l.Read(resp.Body)
		if err != nil {
			return nil, c.DecodeError(ctx, l.Op, resp.StatusCode, err)
		}
		if all == nil {
			all = items
		} else {
			all = append(all, items...)
		}
		if next.URL == "" {
			return all, nil
		}
		if n == 1 {
			seen[pageKey(c.pathURL(l.Path))] = true
		}
		if n >= MaxPages {
			return nil, c.pagingError(ctx, l.Op, fmt.Sprintf("page %d still links to another", n), c.hints.TooManyPages)
		}
		u, why, problem := c.CheckLink(next.URL)
		if problem == 0 && seen[pageKey(u)] {
			why, problem = "links back to a page already read", LinkLoop
		}
		if problem != 0 {
			return nil, c.pagingError(ctx, l.Op, fmt.Sprintf("page %d: %s %s", n, next.Field, why), c.hints.Link(problem, "next-page link ("+next.Field+")"))
		}
		seen[pageKey(u)] = true
		r = Request{Op: l.Op, Method: http.MethodGet, URL: u.String()}
	}
}

func (c *Client) pagingError(ctx context.Context, op, what, hint string) error {
	return c.svc.Fail(ctx, &Failure{Op: op, Err: fmt.Errorf("%s: %w", what, ErrPaging), Hint: hint})
}

// LinkError is the service's error for a link other than a next page
// refused by CheckLink: field is the link's name in the answer
// ("Location"), what says what it is for ("operation link"), why and
// problem are CheckLink's.
func (c *Client) LinkError(ctx context.Context, op, field, what, why string, problem LinkProblem) error {
	return c.svc.Fail(ctx, &Failure{Op: op, Err: fmt.Errorf("%s %s: %w", field, why, ErrLinkRefused),
		Hint: c.hints.Link(problem, what+" ("+field+")")})
}

// LinkProblem is why CheckLink refused a link; 0 is none.
type LinkProblem int

// The problems of a link.
const (
	LinkNotHTTPS LinkProblem = iota + 1 // not an absolute https URL
	LinkOffHost                         // another host or port than the API URL's, or user info
	LinkOffPath                         // not under the API URL's path, or with dot segments
	LinkLoop                            // a page of the listing read before
)

// CheckLink checks a link an answer gave before the bearer token goes with
// it: it must be an absolute https URL on the API URL's host and port,
// under its path, without user info or dot segments. It returns the URL,
// its fragment dropped, or why it is refused (a phrase: "points to another
// host than the API URL's") and the problem. Neither quotes the link: it
// came in a response.
func (c *Client) CheckLink(link string) (u *url.URL, why string, problem LinkProblem) {
	u, err := url.Parse(link)
	switch {
	case err != nil:
		return nil, "is not a URL", LinkNotHTTPS
	case !strings.EqualFold(u.Scheme, "https") || u.Opaque != "":
		return nil, "is not an absolute https URL", LinkNotHTTPS
	case !sameHost(u, c.baseURL) || u.User != nil:
		return nil, "points to another host than the API URL's", LinkOffHost
	case !underPath(u.Path, c.baseURL.Path):
		return nil, "points outside the API URL's path", LinkOffPath
	}
	u.Fragment, u.RawFragment = "", ""
	return u, "", 0
}

// sameHost reports whether u is on base's host and port, the port of https
// made explicit and the host's case ignored.
func sameHost(u, base *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return "443"
	}
	return u.Hostname() != "" && strings.EqualFold(u.Hostname(), base.Hostname()) && port(u) == port(base)
}

// underPath reports whether the (decoded) path p is below base and has no
// "." or ".." segment that a server could resolve to somewhere else. Case
// is ignored: Power BI's paths are case-insensitive.
func underPath(p, base string) bool {
	prefix := base + "/"
	if len(p) <= len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// pathURL is the URL Do sends a request with path to.
func (c *Client) pathURL(path []string) *url.URL {
	u := *c.baseURL
	u.RawPath = ""
	for _, s := range path {
		u.Path += "/" + s
	}
	return &u
}

// pageKey is what tells two pages of a listing apart: their URL, with the
// case of scheme and host and the default port ignored.
func pageKey(u *url.URL) string {
	k := *u
	k.Scheme = strings.ToLower(k.Scheme)
	k.Host = strings.TrimSuffix(strings.ToLower(k.Host), ":443")
	return k.String()
}
