package config

import (
	"path"
	"strings"
	"time"
)

// Ownership configures the sources of the ownership chain beyond services:
// CODEOWNERS files, a Backstage catalog, PagerDuty on-call and recent GitHub
// contributors, and how organisational change is handled.
type Ownership struct {
	// GracePeriod is how long a person who left a team keeps being notified
	// for that team's resources. Default DefaultGracePeriod.
	GracePeriod Duration `yaml:"grace_period"`
	// Refresh is how often sources that need the network are read again.
	// Default DefaultRefresh.
	Refresh      Duration           `yaml:"refresh"`
	CodeOwners   []CodeOwnersSource `yaml:"codeowners"`
	Catalog      Catalog            `yaml:"catalog"`
	OnCall       []OnCallRule       `yaml:"oncall"`
	Contributors Contributors       `yaml:"contributors"`
}

// Defaults of the ownership section.
const (
	DefaultGracePeriod       = 7 * 24 * time.Hour
	DefaultRefresh           = 5 * time.Minute
	DefaultContributorsSince = 30 * 24 * time.Hour
	DefaultContributorsTop   = 3
)

// CodeOwnersSource is one repository's CODEOWNERS: a local File (relative
// to the config file's directory), or read through the GitHub API.
type CodeOwnersSource struct {
	Repo   string `yaml:"repo"`   // "owner/name", required
	File   string `yaml:"file"`   // a local copy of the file
	GitHub bool   `yaml:"github"` // read .github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS through the API
	Ref    string `yaml:"ref"`    // branch or tag for GitHub; default the default branch
}

// Catalog names Backstage catalog sources: local catalog-info.yaml files
// (relative to the config file's directory) and/or a Backstage backend.
type Catalog struct {
	Files []string `yaml:"files"`
	URL   string   `yaml:"url"` // e.g. https://backstage.acme.test; token from BACKSTAGE_TOKEN
}

// OnCallRule sends resources matching any of Match to whoever is on call for
// Team (its pagerduty escalation policy or schedule).
type OnCallRule struct {
	Match []string `yaml:"match"` // globs over resource keys, e.g. "service:*", "bucket:prod-*"
	Team  string   `yaml:"team"`
}

// Contributors enables the recent-contributors layer for files: the people
// who committed most to a path recently own it when nothing else does.
type Contributors struct {
	Enabled bool     `yaml:"enabled"`
	Since   Duration `yaml:"since"` // default DefaultContributorsSince
	Top     int      `yaml:"top"`   // default DefaultContributorsTop
}

// PagerDuty ties a team to its PagerDuty escalation policy and/or schedule:
// who is on call there is the team's escalation path.
type PagerDuty struct {
	EscalationPolicy string `yaml:"escalation_policy"`
	Schedule         string `yaml:"schedule"`
}

// Configured reports whether any PagerDuty id is set.
func (p PagerDuty) Configured() bool { return p.EscalationPolicy != "" || p.Schedule != "" }

func (v *validator) checkOwnership() {
	o := &v.cfg.Ownership
	if o.GracePeriod.Duration == 0 {
		o.GracePeriod.Duration = DefaultGracePeriod
	}
	if o.Refresh.Duration == 0 {
		o.Refresh.Duration = DefaultRefresh
	}
	seenRepo := map[string]int{}
	for i := range o.CodeOwners {
		s := &o.CodeOwners[i]
		p := indexPath("ownership.codeowners", i)
		switch {
		case s.Repo == "":
			v.required(p + ".repo")
		case !validRepo(s.Repo):
			v.pathf(p+".repo", "%q is not a repository; write owner/name like \"acme/api\"", s.Repo)
		default:
			if first, dup := seenRepo[s.Repo]; dup {
				v.pathf(p+".repo", "duplicate repo %q (first at line %d)", s.Repo, v.lineOf(indexPath("ownership.codeowners", first)))
			}
			seenRepo[s.Repo] = i
		}
		switch {
		case s.File == "" && !s.GitHub:
			v.pathf(p, "set file (a local CODEOWNERS) or github: true (read it through the GitHub API)")
		case s.File != "" && s.GitHub:
			v.pathf(p, "set file or github: true, not both")
		case s.Ref != "" && !s.GitHub:
			v.pathf(p+".ref", "ref applies only with github: true")
		}
	}
	for i, f := range o.Catalog.Files {
		if strings.TrimSpace(f) == "" {
			v.pathf(indexPath("ownership.catalog.files", i), "empty file name")
		}
	}
	if u := o.Catalog.URL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		v.pathf("ownership.catalog.url", "%q must be an http:// or https:// URL", u)
	}
	for i := range o.OnCall {
		r := &o.OnCall[i]
		p := indexPath("ownership.oncall", i)
		if len(r.Match) == 0 {
			v.pathf(p+".match", "required: list the resource keys (globs such as \"service:*\") this rule covers")
		}
		for j, m := range r.Match {
			if _, err := path.Match(m, ""); err != nil || strings.TrimSpace(m) == "" {
				v.pathf(indexPath(p+".match", j), "bad glob pattern %q", m)
			}
		}
		if r.Team == "" {
			v.required(p + ".team")
			continue
		}
		v.teamRef(p+".team", r.Team)
		if t, ok := v.teams[r.Team]; ok && !v.cfg.Teams[t].PagerDuty.Configured() {
			v.pathf(p+".team", "team %q has no pagerduty escalation_policy or schedule to ask who is on call", r.Team)
		}
	}
	c := &o.Contributors
	if c.Since.Duration == 0 {
		c.Since.Duration = DefaultContributorsSince
	}
	switch {
	case c.Top == 0:
		c.Top = DefaultContributorsTop
	case c.Top < 0 || c.Top > 20:
		v.pathf("ownership.contributors.top", "must be between 1 and 20, not %d", c.Top)
	}
}

func validRepo(s string) bool {
	owner, name, ok := strings.Cut(s, "/")
	return ok && owner != "" && name != "" && !strings.ContainsAny(name, "/: ") && !strings.ContainsAny(owner, ": ")
}
