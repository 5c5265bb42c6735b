// Package config loads and strictly validates mandate.yaml, the one file that
// describes an organisation to Mandate: its people, teams, services and
// agents, and org-wide settings such as business hours and the fallback owner.
//
// Validation is strict because a typo in this file silently routes an alert
// to nobody. Every problem is reported, all at once, as FILE:LINE: message,
// naming the offending field by its path (teams[1].members[2]).
//
// Adding a top-level section is two steps: a field on Config (the decoder
// follows `yaml` struct tags) and a validate function in the list in
// validate.go.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"time"
	_ "time/tzdata" // time zones must resolve the same on a bare container as on a laptop

	"go.yaml.in/yaml/v3"
)

// Config is a validated mandate.yaml. Values returned by Load and Parse have
// defaults filled in (see each field) and every reference checked, so callers
// can use them without re-validating. Treat a Config as read-only: it is
// shared by concurrent readers, and its lookup indexes point into the slices.
type Config struct {
	Org      Org       `yaml:"org"`
	People   []Person  `yaml:"people"`
	Teams    []Team    `yaml:"teams"`
	Services []Service `yaml:"services"`
	Agents   []Agent   `yaml:"agents"`
	// Ownership configures the ownership chain's other sources.
	Ownership Ownership `yaml:"ownership"`
	// Routing holds routing rules and watches.
	Routing Routing `yaml:"routing"`
	// Escalation holds escalation policies.
	Escalation Escalation `yaml:"escalation"`
	// Digests schedules the weekly digests and the daily nag of overdue action items.
	Digests Digests `yaml:"digests"`
	// Incidents holds the opt-in rules that open incidents by themselves.
	Incidents Incidents `yaml:"incidents"`

	// Dir is the directory of the config file: relative paths in it (local
	// CODEOWNERS and catalog files) are read from there.
	Dir string `yaml:"-"`

	// Indexes from id (or service name) to slice position, built after
	// validation. A Config built by hand has none; lookups then scan.
	people, teams, services, agents map[string]int
}

// Org holds organisation-wide settings.
type Org struct {
	Name string `yaml:"name"`
	// Timezone is an IANA zone name; it is the default for people and teams
	// that do not set their own, and the zone of BusinessHours.
	Timezone string `yaml:"timezone"`
	// Location is Timezone parsed; UTC when Timezone is empty.
	Location      *time.Location `yaml:"-"`
	BusinessHours BusinessHours  `yaml:"business_hours"`
	// Admins are person ids allowed to change Mandate's own settings.
	Admins []string `yaml:"admins"`
	// Fallback owns whatever no other rule gives an owner, so nothing is
	// ever routed to nobody. Required.
	Fallback Target `yaml:"fallback"`
	// ReviewDeadline is how long a flagged action waits for a human before
	// it escalates. Default DefaultReviewDeadline.
	ReviewDeadline Duration `yaml:"review_deadline"`
	// HeartbeatURL, when set, is pinged (POST) every HeartbeatEvery by every running
	// server: a dead-man's switch, so an outside monitor notices Mandate's silence.
	HeartbeatURL   string   `yaml:"heartbeat_url"`
	HeartbeatEvery Duration `yaml:"heartbeat_every"` // default 1 m
	// BackupWebhook, when set, is told (POST, JSON, signed when MANDATE_WEBHOOK_SECRET
	// is set) when Mandate itself is degraded: its database unreachable, its deliveries
	// backing up; and again when it recovers. It must not depend on Mandate, nor on
	// Slack if Slack is what failed: a pager's or chat's incoming webhook elsewhere.
	BackupWebhook string `yaml:"backup_webhook"`
}

// DefaultReviewDeadline is Org.ReviewDeadline when the file does not set it.
const DefaultReviewDeadline = 4 * time.Hour

// InBusinessHours reports whether t falls in the org's business hours, in the
// org's time zone.
func (o Org) InBusinessHours(t time.Time) bool {
	return o.BusinessHours.Contains(t, o.Location)
}

// Target names someone to tell: a team or a person (org.fallback takes exactly one of
// those), or, in routing rules, also a webhook (a playbook) or a PagerDuty escalation
// policy.
type Target struct {
	Team             string `yaml:"team"`
	Person           string `yaml:"person"`
	Webhook          string `yaml:"webhook"`
	EscalationPolicy string `yaml:"escalation_policy"`
}

// String renders the target as "team:ID" or "person:ID" for logs and messages.
func (t Target) String() string {
	switch {
	case t.Team != "" && t.Person == "":
		return "team:" + t.Team
	case t.Person != "" && t.Team == "":
		return "person:" + t.Person
	case t.Team == "" && t.Person == "":
		return "none"
	}
	return fmt.Sprintf("team:%s+person:%s", t.Team, t.Person)
}

// Person is a human who can own things and be notified.
type Person struct {
	ID       string `yaml:"id"` // required, unique among people
	Name     string `yaml:"name"`
	Slack    string `yaml:"slack"` // Slack user id, e.g. U0123ABC
	Email    string `yaml:"email"`
	GitHub   string `yaml:"github"` // GitHub login
	Timezone string `yaml:"timezone"`
	// Location is Timezone parsed; the org's Location when Timezone is empty.
	Location *time.Location `yaml:"-"`
}

// Team is a group of people that owns services and agents.
type Team struct {
	ID           string   `yaml:"id"` // required, unique among teams
	Name         string   `yaml:"name"`
	SlackChannel string   `yaml:"slack_channel"` // channel id where team notifications go
	Members      []string `yaml:"members"`       // person ids
	Lead         string   `yaml:"lead"`          // person id; need not be a member
	Timezone     string   `yaml:"timezone"`      // optional; default the org's
	// GitHub is the team's GitHub "org/team-slug" (e.g. "acme/payments"),
	// used to match CODEOWNERS entries. Optional.
	GitHub string `yaml:"github"`
	// PagerDuty names the team's escalation policy and/or schedule.
	PagerDuty PagerDuty `yaml:"pagerduty"`
	// Escalation picks an escalation policy per urgency for the team's notifications.
	Escalation map[string]string `yaml:"escalation"`
	// DigestSchedule overrides digests.schedule for the team ("off": no digest).
	DigestSchedule string `yaml:"digest_schedule"`
	// Location is Timezone parsed; the org's Location when Timezone is empty.
	Location *time.Location `yaml:"-"`
}

// Service is a named resource (a service, table, bucket, …) with owners.
type Service struct {
	Name string `yaml:"name"` // required, unique among services
	Kind string `yaml:"kind"` // required: the resource kind it matches (service, table, …)
	// Match are path.Match globs over resource names ("payments-*"). Each
	// must be non-empty and a valid pattern.
	Match  []string `yaml:"match"`
	Team   string   `yaml:"team"`   // owning team id
	Owners []string `yaml:"owners"` // person ids, in addition to the team
	// Sensitivity is low, normal, high or critical; default normal.
	Sensitivity string `yaml:"sensitivity"`
}

// Sensitivity values accepted for Service.Sensitivity, least to most.
const (
	SensitivityLow      = "low"
	SensitivityNormal   = "normal"
	SensitivityHigh     = "high"
	SensitivityCritical = "critical"
)

// Agent is an autonomous actor that reports actions to Mandate.
type Agent struct {
	ID   string `yaml:"id"` // required, unique among agents
	Name string `yaml:"name"`
	Team string `yaml:"team"` // required: the team answerable for the agent
	// Trust is new, trusted or restricted; default new, so an agent earns
	// trust explicitly rather than by omission.
	Trust string `yaml:"trust"`
}

// Trust values accepted for Agent.Trust (the same strings as mandate.Trust).
const (
	TrustNew        = "new"
	TrustTrusted    = "trusted"
	TrustRestricted = "restricted"
)

// Load reads and validates the file at path. A file that cannot be read
// returns the os error unchanged (so errors.Is(err, fs.ErrNotExist) works);
// any problem with its content returns Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse validates data as a mandate.yaml; filename is used in error
// messages. On any problem it returns a nil Config and an Errors holding
// every problem found, sorted by line.
func Parse(filename string, data []byte) (cfg *Config, err error) {
	c := newCollector(filename)
	// yaml.v3 reports its own internal failures as panics it does not
	// recover. A config loader must never take the server down on reload,
	// so any such panic becomes an ordinary error.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, Errors{{File: filename, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}}
		}
	}()

	cfg = &Config{}
	if decodeInto(c, data, cfg) {
		validate(c, cfg)
	}
	if len(c.errs) > 0 {
		sortErrors(c.errs)
		return nil, c.errs
	}
	cfg.Dir = filepath.Dir(filename)
	cfg.buildIndexes()
	return cfg, nil
}

// decodeInto parses data and decodes it into cfg. It reports whether decoding
// got far enough for semantic checks to be meaningful.
func decodeInto(c *collector, data []byte, cfg *Config) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.add(1, "empty file: expected a mapping with org, people, teams, services and agents")
			return false
		}
		line, msg := syntaxError(err, data)
		c.add(line, "YAML syntax error: "+msg)
		return false
	}
	// One file, one config: a second document would be silently ignored.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.add(extra.Line, "unexpected second YAML document; a config file holds one")
	} else if !errors.Is(err, io.EOF) {
		line, msg := syntaxError(err, data)
		c.add(line, "YAML syntax error: "+msg)
	}

	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	c.lines[""] = max(root.Line, 1)
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		c.add(1, "empty file: expected a mapping with org, people, teams, services and agents")
		return false
	}
	if root.Kind != yaml.MappingNode {
		c.add(root.Line, "the top level must be a mapping with org, people, teams, services and agents, got "+describe(root))
		return false
	}
	d := &decoder{c: c, expanding: map[*yaml.Node]bool{}, budget: maxNodes}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "", root.Line)
	return !d.exhausted
}

func (c *Config) buildIndexes() {
	c.people = make(map[string]int, len(c.People))
	for i, p := range c.People {
		c.people[p.ID] = i
	}
	c.teams = make(map[string]int, len(c.Teams))
	for i, t := range c.Teams {
		c.teams[t.ID] = i
	}
	c.services = make(map[string]int, len(c.Services))
	for i, s := range c.Services {
		c.services[s.Name] = i
	}
	c.agents = make(map[string]int, len(c.Agents))
	for i, a := range c.Agents {
		c.agents[a.ID] = i
	}
}

// lookup finds key in idx, or by scanning when idx was never built.
func lookup[T any](items []T, idx map[string]int, key string, keyOf func(*T) string) (*T, bool) {
	if idx != nil {
		i, ok := idx[key]
		if !ok {
			return nil, false
		}
		return &items[i], true
	}
	for i := range items {
		if keyOf(&items[i]) == key {
			return &items[i], true
		}
	}
	return nil, false
}

// Person returns the person with the given id. The result points into the
// Config; do not modify it.
func (c *Config) Person(id string) (*Person, bool) {
	return lookup(c.People, c.people, id, func(p *Person) string { return p.ID })
}

// Team returns the team with the given id. The result points into the
// Config; do not modify it.
func (c *Config) Team(id string) (*Team, bool) {
	return lookup(c.Teams, c.teams, id, func(t *Team) string { return t.ID })
}

// Agent returns the agent with the given id. The result points into the
// Config; do not modify it.
func (c *Config) Agent(id string) (*Agent, bool) {
	return lookup(c.Agents, c.agents, id, func(a *Agent) string { return a.ID })
}

// Service returns the service with the given name. The result points into
// the Config; do not modify it.
func (c *Config) Service(name string) (*Service, bool) {
	return lookup(c.Services, c.services, name, func(s *Service) string { return s.Name })
}
