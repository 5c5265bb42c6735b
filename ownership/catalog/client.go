package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Error classes of Client.Entities. Every error it returns for a failed
// exchange with the backend is an *APIError matching exactly one of these
// with errors.Is, so callers can choose: fix the token (unauthorized), keep
// the last snapshot and retry later (unavailable), or report a broken or
// misaddressed backend (bad response).
var (
	// ErrUnauthorized: the backend refused the token (HTTP 401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnavailable: no usable answer arrived — connection refused, DNS
	// failure, timeout, cancellation, HTTP 5xx, 408 or 429. Worth retrying.
	ErrUnavailable = errors.New("unavailable")
	// ErrBadResponse: the backend answered, but not as a Backstage catalog
	// does — invalid JSON, an unexpected shape or status, an entity without
	// kind or name. Retrying will not help.
	ErrBadResponse = errors.New("bad response")
)

// APIError describes a failed exchange with a Backstage backend. It matches
// its Class and, when there is one, its underlying Err (for example
// context.DeadlineExceeded) with errors.Is.
type APIError struct {
	Class      error  // ErrUnauthorized, ErrUnavailable or ErrBadResponse
	URL        string // the request URL; it never holds the token
	StatusCode int    // 0 when no HTTP response arrived
	Msg        string // what went wrong, for people
	Err        error  // underlying cause, or nil
}

// Error names the class, the request and what went wrong, never the token.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backstage catalog %v: GET %s", e.Class, e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the class and the cause, so errors.Is matches either.
func (e *APIError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Err}
}

// Client reads entities from a Backstage backend's catalog API.
type Client struct {
	// BaseURL is the backend's base URL, e.g. "https://backstage.acme.io"
	// (the catalog API is under /api/catalog).
	BaseURL string
	// Token, when set, is sent as "Authorization: Bearer Token"; Backstage
	// wants a static external-access token or a service token.
	Token string
	// HTTP is the client to use; nil means one with a 30 s timeout, since
	// http.DefaultClient would wait forever on a hung backend.
	HTTP *http.Client
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// pageSize is the by-query limit: large enough that a big catalog takes few
// round trips, small enough that one page stays a modest response.
const pageSize = 500

// maxBody bounds one response body so a misbehaving backend cannot exhaust
// memory. The unpaginated fallback returns the whole catalog at once, hence
// the generous size.
const maxBody = 256 << 20

// Entities fetches every entity of the given kinds ("component", "API", …;
// none means all kinds). It pages through GET /api/catalog/entities/by-query,
// following pageInfo.nextCursor, and falls back to the unpaginated GET
// /api/catalog/entities when by-query answers 404 (older Backstage releases
// lack it). Each entity's Location is its URL in the catalog API.
//
// Errors from the backend are *APIError values of one of the classes
// ErrUnauthorized, ErrUnavailable and ErrBadResponse. An entity lacking kind
// or name, or with an unparseable ref, fails the whole fetch as a bad
// response: a Backstage backend never serves one, and a silently partial
// catalog would route pages to the wrong people.
func (c *Client) Entities(ctx context.Context, kinds ...string) ([]Entity, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("backstage catalog: BaseURL %q is not an http(s) URL", c.BaseURL)
	}
	var filter []string
	wanted := map[string]bool{}
	for _, k := range kinds {
		// The filter syntax has no escaping, so a ',' or '=' in a kind
		// would silently change the query.
		if !validKind(k) {
			return nil, fmt.Errorf("backstage catalog: invalid kind %q", k)
		}
		k = strings.ToLower(k)
		if !wanted[k] {
			wanted[k] = true
			filter = append(filter, "kind="+k)
		}
	}
	// One filter set with repeated keys: Backstage ORs values of one key.
	q := url.Values{"limit": {fmt.Sprint(pageSize)}}
	if len(filter) > 0 {
		q.Set("filter", strings.Join(filter, ","))
	}

	entities, err := c.byQuery(ctx, base, q)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound && entities == nil {
		q.Del("limit") // the old endpoint returns everything in one go
		entities, err = c.list(ctx, base, q)
	}
	if err != nil {
		return nil, err
	}
	if len(wanted) > 0 {
		// Proxies have been known to drop query strings; never hand the
		// resolver kinds it did not ask for.
		kept := entities[:0]
		for _, e := range entities {
			if wanted[strings.ToLower(e.Kind)] {
				kept = append(kept, e)
			}
		}
		entities = kept
	}
	return entities, nil
}

// byQuery pages through /entities/by-query. It returns nil entities with a
// 404 error when the endpoint does not exist.
func (c *Client) byQuery(ctx context.Context, base string, q url.Values) ([]Entity, error) {
	entities := []Entity{}
	seen := map[string]bool{}
	for {
		u := base + "/api/catalog/entities/by-query?" + q.Encode()
		var page struct {
			Items    *[]json.RawMessage `json:"items"`
			PageInfo struct {
				NextCursor string `json:"nextCursor"`
			} `json:"pageInfo"`
		}
		if err := c.get(ctx, u, &page); err != nil {
			if len(seen) > 0 {
				// A 404 mid-way is not an old backend; don't fall back.
				var apiErr *APIError
				if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
					apiErr.Msg = "page vanished mid-way (expired cursor?)"
				}
				return entities, err
			}
			return nil, err
		}
		if page.Items == nil {
			return entities, &APIError{Class: ErrBadResponse, URL: u, Msg: `no "items" array in the response`}
		}
		for i, raw := range *page.Items {
			e, err := decodeAPIEntity(raw, base)
			if err != nil {
				return entities, &APIError{Class: ErrBadResponse, URL: u, Msg: fmt.Sprintf("items[%d]: %v", i, err)}
			}
			entities = append(entities, e)
		}
		next := page.PageInfo.NextCursor
		if next == "" {
			return entities, nil
		}
		if seen[next] {
			return entities, &APIError{Class: ErrBadResponse, URL: u, Msg: "pagination cursor repeats; refusing to loop"}
		}
		seen[next] = true
		// A cursor encodes the query; Backstage accepts only limit and
		// fields beside it.
		q = url.Values{"cursor": {next}, "limit": q["limit"]}
	}
}

// list reads the unpaginated /entities endpoint of older backends.
func (c *Client) list(ctx context.Context, base string, q url.Values) ([]Entity, error) {
	u := base + "/api/catalog/entities"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var items *[]json.RawMessage
	if err := c.get(ctx, u, &items); err != nil {
		return nil, err
	}
	if items == nil {
		return nil, &APIError{Class: ErrBadResponse, URL: u, Msg: "expected a JSON array of entities, got null"}
	}
	entities := make([]Entity, 0, len(*items))
	for i, raw := range *items {
		e, err := decodeAPIEntity(raw, base)
		if err != nil {
			return nil, &APIError{Class: ErrBadResponse, URL: u, Msg: fmt.Sprintf("[%d]: %v", i, err)}
		}
		entities = append(entities, e)
	}
	return entities, nil
}

// get performs one GET and decodes its JSON body into v, classifying every
// failure.
func (c *Client) get(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &APIError{Class: ErrBadResponse, URL: u, Msg: "cannot build request", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &APIError{Class: ErrUnavailable, URL: u, Msg: transportProblem(err), Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	// Read the whole body before decoding: a timeout or reset mid-body is
	// the backend being unavailable, not its JSON being bad.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return &APIError{Class: ErrUnavailable, URL: u, StatusCode: resp.StatusCode, Msg: "reading the response: " + transportProblem(err), Err: unwrapURLError(err)}
	}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return &APIError{Class: ErrUnauthorized, URL: u, StatusCode: s, Msg: backstageMessage(body, "check the catalog token")}
	case s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests:
		return &APIError{Class: ErrUnavailable, URL: u, StatusCode: s, Msg: backstageMessage(body, "")}
	case s == http.StatusNotFound:
		return &APIError{Class: ErrBadResponse, URL: u, StatusCode: s, Msg: backstageMessage(body, "is BaseURL the Backstage backend?")}
	case s < 200 || s > 299:
		return &APIError{Class: ErrBadResponse, URL: u, StatusCode: s, Msg: backstageMessage(body, "")}
	}
	if len(body) > maxBody {
		return &APIError{Class: ErrBadResponse, URL: u, Msg: fmt.Sprintf("response larger than %d MiB", maxBody>>20)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		msg := "invalid JSON"
		var syn *json.SyntaxError
		if !errors.As(err, &syn) {
			msg = "unexpected JSON shape"
		} else if ct := resp.Header.Get("Content-Type"); ct != "" {
			if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
				// Typically an SSO login page in front of the backend.
				msg = fmt.Sprintf("invalid JSON (Content-Type %s; is a login proxy in the way?)", mt)
			}
		}
		return &APIError{Class: ErrBadResponse, URL: u, Msg: msg, Err: err}
	}
	return nil
}

// backstageMessage extracts the message of a Backstage error body
// ({"error":{"name":…,"message":…}}), or a short excerpt of any other body,
// and appends hint.
func backstageMessage(body []byte, hint string) string {
	var parsed struct {
		Error struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &parsed) == nil && parsed.Error.Message != "" {
		msg = parsed.Error.Message
		if parsed.Error.Name != "" {
			msg = parsed.Error.Name + ": " + msg
		}
	} else if t := bytes.TrimSpace(body); len(t) > 0 && len(t) <= 200 && !bytes.ContainsAny(t, "<>") {
		msg = string(t)
	}
	switch {
	case msg == "":
		return hint
	case hint == "":
		return msg
	}
	return msg + " (" + hint + ")"
}

func transportProblem(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	return "no response"
}

// unwrapURLError drops the *url.Error layer, whose text repeats the method
// and URL that APIError already prints.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeAPIEntity converts one entity of an API response. Locations point
// at the entity's own API URL, which a person can open to see it.
func decodeAPIEntity(raw json.RawMessage, base string) (Entity, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Entity{}, err
	}
	e, _, ferr := decodeEntity(jsonNode(v), false)
	if ferr != nil {
		if e.Kind != "" && e.Name != "" {
			return Entity{}, fmt.Errorf("%s: %s", e.Ref(), ferr.msg)
		}
		return Entity{}, errors.New(ferr.msg)
	}
	r := e.Ref()
	e.Location = base + "/api/catalog/entities/by-name/" + url.PathEscape(r.Kind) + "/" + url.PathEscape(r.Namespace) + "/" + url.PathEscape(e.Name)
	return e, nil
}
