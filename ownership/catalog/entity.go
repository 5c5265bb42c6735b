package catalog

import "strings"

// Annotations Mandate reads from catalog entities.
const (
	// AnnotationGitHubProjectSlug names the entity's repository, "acme/api".
	AnnotationGitHubProjectSlug = "github.com/project-slug"
	// AnnotationPagerDutyServiceID is the PagerDuty service that pages for
	// the entity; the on-call layer follows it.
	AnnotationPagerDutyServiceID = "pagerduty.com/service-id"
	// AnnotationPagerDutyIntegrationKey is the Events v2 routing key for
	// the entity's PagerDuty service.
	AnnotationPagerDutyIntegrationKey = "pagerduty.com/integration-key"
	// AnnotationSourceLocation is where the entity's source code lives,
	// e.g. "url:https://github.com/acme/api/tree/main/".
	AnnotationSourceLocation = "backstage.io/source-location"
)

// Entity is one Backstage catalog entity, reduced to the fields ownership
// resolution and notification need. Strings keep the spelling of the
// descriptor; use Ref and OwnerRef for comparisons. Fields a kind does not
// define stay empty (Members is only read for Groups, MemberOf for Users,
// and so on), because custom kinds may use the same names for other things.
type Entity struct {
	APIVersion  string // e.g. "backstage.io/v1alpha1"
	Kind        string // as written, e.g. "Component"
	Namespace   string // "default" when the descriptor names none
	Name        string
	Title       string
	Description string
	Annotations map[string]string
	Labels      map[string]string
	Tags        []string

	Type      string // spec.type
	Lifecycle string // spec.lifecycle (Component, API)
	// Owner is spec.owner exactly as written: "group:payments",
	// "user:alice" or "payments" (a group, Backstage's default kind).
	Owner string
	// OwnerRef is Owner parsed against the entity's namespace; nil when
	// the entity has no owner.
	OwnerRef       *Ref
	System         string   // spec.system (Component, API, Resource)
	Domain         string   // spec.domain (System)
	SubcomponentOf string   // spec.subcomponentOf (Component)
	ProvidesAPIs   []string // spec.providesApis (Component)
	ConsumesAPIs   []string // spec.consumesApis (Component)
	DependsOn      []string // spec.dependsOn (Component, Resource)
	Parent         string   // spec.parent (Group)
	Children       []string // spec.children (Group)
	Members        []string // spec.members (Group), user refs
	MemberOf       []string // spec.memberOf (User), group refs
	Email          string   // spec.profile.email (User, Group)
	DisplayName    string   // spec.profile.displayName (User, Group)

	// Location is where the entity was read: "FILE:LINE" of its kind
	// line for files, or the entity's URL in the Backstage API for
	// fetched ones. Resolver explanations cite it.
	Location string
}

// Ref returns the entity's own ref, e.g. component:default/api.
func (e Entity) Ref() Ref {
	ns := e.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return Ref{Kind: strings.ToLower(e.Kind), Namespace: strings.ToLower(ns), Name: e.Name}
}

// Annotation returns the value of annotation key, or "" when it is unset.
func (e Entity) Annotation(key string) string {
	return e.Annotations[key]
}
