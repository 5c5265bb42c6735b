// Package github reads the two ownership signals Mandate takes from GitHub:
// CODEOWNERS files and the recent authors of a path. It wraps go-github v60;
// per DESIGN.md this package is the only place go-github's types appear, so
// callers see plain structs and a classified *Error.
//
// These calls are made by background refreshers that rebuild the ownership
// snapshot, never per request.
package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// DefaultBaseURL is GitHub.com's REST API.
const DefaultBaseURL = "https://api.github.com/"

// defaultTimeout bounds a request when the caller brings no http.Client: a
// refresher stuck on a dead connection would otherwise keep a stale snapshot
// forever without saying why.
const defaultTimeout = 15 * time.Second

// maxCodeOwnersSize is GitHub's own limit: CODEOWNERS files of 3 MB or more
// are not loaded by GitHub, so honouring a bigger one would make Mandate
// disagree with GitHub about who owns what.
const maxCodeOwnersSize = 3 << 20

// codeOwnersPaths is where GitHub looks for CODEOWNERS, in its order; the
// first one found wins.
var codeOwnersPaths = []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}

// Client reads from one GitHub REST API. It is safe for concurrent use.
type Client struct {
	gh *gh.Client
}

// New returns a client for the GitHub REST API at baseURL. An empty baseURL
// means DefaultBaseURL; a GitHub Enterprise Server URL must include its
// /api/v3/ path, because it is used as given (a trailing slash is added when
// missing). token may be empty for public repositories. httpClient may be nil,
// in which case one with a 15 s timeout is used; a given client is copied, not
// modified.
func New(token, baseURL string, httpClient *http.Client) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Source: source, Kind: Invalid, Op: "configure client", Err: fmt.Errorf("base URL %q is not an absolute http(s) URL", baseURL)}
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultTimeout}
	}
	c := gh.NewClient(httpClient)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	// Set BaseURL directly: WithEnterpriseURLs would append api/v3/ to
	// URLs that lack it, which breaks test servers and custom proxies.
	c.BaseURL = u
	c.UserAgent = "mandate"
	return &Client{gh: c}, nil
}

// CodeOwners finds the repository's CODEOWNERS the way GitHub does —
// .github/CODEOWNERS, then CODEOWNERS at the root, then docs/CODEOWNERS, the
// first found wins — at ref (a branch, tag or SHA; empty means the default
// branch). It returns the path found and the file's content. repo is
// "owner/name".
//
// When none of the three exists the error's Kind is NotFound. Any other
// failure stops the search at once: falling through to a lower-precedence
// file after, say, a 500 on .github/CODEOWNERS could return the wrong file.
func (c *Client) CodeOwners(ctx context.Context, repo, ref string) (path string, content []byte, err error) {
	op := "read " + repo + " CODEOWNERS"
	if ref != "" {
		op = "read " + repo + "@" + ref + " CODEOWNERS"
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", nil, &Error{Source: source, Kind: Invalid, Op: op, Err: err}
	}
	var opts *gh.RepositoryContentGetOptions
	if ref != "" {
		opts = &gh.RepositoryContentGetOptions{Ref: ref}
	}
	for _, p := range codeOwnersPaths {
		fc, _, resp, err := c.gh.Repositories.GetContents(ctx, owner, name, p, opts)
		if err != nil {
			e := classify(ctx, op, err)
			if e.Kind == NotFound && resp != nil {
				continue
			}
			return "", nil, e
		}
		// A directory or submodule named CODEOWNERS is not a CODEOWNERS
		// file; GitHub ignores it and so do we.
		if fc == nil || (fc.GetType() != "" && fc.GetType() != "file") {
			continue
		}
		b, err := c.fileContent(ctx, owner, name, p, ref, fc)
		if err != nil {
			return "", nil, classify(ctx, op+" ("+p+")", err)
		}
		return p, b, nil
	}
	return "", nil, &Error{Source: source, Kind: NotFound, Op: op, Status: http.StatusNotFound,
		Err: errors.New("no CODEOWNERS file in .github/, the root or docs/")}
}

// fileContent returns a file's bytes from a contents-API answer. Files over
// 1 MB come back with encoding "none" and no content; those are fetched again
// with the raw media type, which the contents API serves up to 100 MB.
func (c *Client) fileContent(ctx context.Context, owner, name, p, ref string, fc *gh.RepositoryContent) ([]byte, error) {
	if fc.GetSize() >= maxCodeOwnersSize {
		return nil, &Error{Source: source, Kind: BadResponse, Err: fmt.Errorf("%s is %d bytes; GitHub ignores CODEOWNERS files of 3 MB or more", p, fc.GetSize())}
	}
	if fc.GetEncoding() != "none" {
		s, err := fc.GetContent()
		if err != nil {
			return nil, &Error{Source: source, Kind: BadResponse, Err: fmt.Errorf("decode %s: %w", p, err)}
		}
		return []byte(s), nil
	}
	u := fmt.Sprintf("repos/%s/%s/contents/%s", owner, name, p)
	if ref != "" {
		u += "?" + url.Values{"ref": {ref}}.Encode()
	}
	req, err := c.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github.raw+json")
	var buf bytes.Buffer
	if _, err := c.gh.Do(ctx, req, &limitedWriter{w: &buf, n: maxCodeOwnersSize}); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &Error{Source: source, Kind: BadResponse, Err: fmt.Errorf("%s is 3 MB or more; GitHub ignores such CODEOWNERS files", p)}
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

var errTooLarge = errors.New("too large")

// limitedWriter fails once more than n bytes are written, so a misbehaving
// server cannot make us buffer an unbounded body.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) >= l.n {
		return 0, errTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// Author is one person who committed to a path, as GitHub knows them.
type Author struct {
	// Login is the GitHub account the commit email is linked to; empty when
	// the email is linked to no account.
	Login string
	// Email and Name are from the author's most recent commit in the window
	// (the git author, not the committer, who is often "GitHub" for merges).
	Email string
	Name  string
	// Commits counts the author's commits to the path in the window.
	Commits int
}

// RecentAuthors lists who authored commits touching path (a file or a
// directory; empty means the whole repository) on the default branch of repo
// ("owner/name") since the given time (zero means all history). It follows
// every page (resp.NextPage, from the Link header), so since is what bounds
// the work.
//
// Authors are merged by login, or by email (case-insensitively) when the email
// is linked to no account. Bot accounts (dependabot[bot], …) are left out:
// they own nothing and cannot answer a page. The result is sorted by commit
// count, most first; ties go to the author whose latest commit is newer, then
// by login (email for unlinked authors). At most max authors are returned;
// max <= 0 means all. An empty repository yields no authors and no error.
func (c *Client) RecentAuthors(ctx context.Context, repo, path string, since time.Time, max int) ([]Author, error) {
	path = strings.Trim(path, "/")
	op := "list " + repo + " commits"
	if path != "" {
		op += " to " + path
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, &Error{Source: source, Kind: Invalid, Op: op, Err: err}
	}
	opts := &gh.CommitsListOptions{
		Path:        path,
		ListOptions: gh.ListOptions{PerPage: 100},
	}
	if !since.IsZero() {
		opts.Since = since.UTC()
	}

	type tally struct {
		Author
		key    string // sort key for ties: login, else email
		latest time.Time
	}
	byKey := map[string]*tally{}
	for {
		commits, resp, err := c.gh.Repositories.ListCommits(ctx, owner, name, opts)
		if err != nil {
			e := classify(ctx, op, err)
			if e.Status == http.StatusConflict {
				// 409 "Git Repository is empty.": nobody has committed.
				return nil, nil
			}
			return nil, e
		}
		for _, rc := range commits {
			if rc.GetAuthor().GetType() == "Bot" {
				continue
			}
			login := rc.GetAuthor().GetLogin()
			ga := rc.GetCommit().GetAuthor()
			email, who := ga.GetEmail(), ga.GetName()
			key := "login:" + strings.ToLower(login)
			if login == "" {
				if email == "" {
					continue // nothing to notify
				}
				key = "email:" + strings.ToLower(email)
			}
			// The committer date is when the change landed on the branch,
			// which is what "recent" means here; the author date survives
			// rebases and can be months older.
			when := rc.GetCommit().GetCommitter().GetDate().Time
			if when.IsZero() {
				when = ga.GetDate().Time
			}
			t := byKey[key]
			if t == nil {
				t = &tally{Author: Author{Login: login, Email: email, Name: who}, latest: when}
				t.key = strings.ToLower(login)
				if login == "" {
					t.key = strings.ToLower(email)
				}
				byKey[key] = t
			} else if when.After(t.latest) {
				t.latest = when
				if email != "" {
					t.Email = email
				}
				if who != "" {
					t.Name = who
				}
			}
			t.Commits++
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}

	all := make([]*tally, 0, len(byKey))
	for _, t := range byKey {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Commits != b.Commits {
			return a.Commits > b.Commits
		}
		if !a.latest.Equal(b.latest) {
			return a.latest.After(b.latest)
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.Email < b.Email
	})
	if max > 0 && len(all) > max {
		all = all[:max]
	}
	out := make([]Author, len(all))
	for i, t := range all {
		out[i] = t.Author
	}
	return out, nil
}

// splitRepo checks that repo is "owner/name" made of the characters GitHub
// allows, so that it can be put into a URL path unescaped (go-github does not
// escape owner and repo).
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !validName(owner) || !validName(name) || name == "." || name == ".." {
		return "", "", fmt.Errorf("repository %q is not \"owner/name\"", repo)
	}
	return owner, name, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
