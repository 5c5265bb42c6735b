// Package catalog reads Backstage service-catalog entities, from
// catalog-info.yaml files and from the Backstage catalog HTTP API, into plain
// Go values that remember where they came from. It is layer 3 of Mandate's
// ownership chain: the resolver uses it to say "owned by group:payments
// (catalog/catalog-info.yaml:12)".
//
// The package follows Backstage's own rules (entity refs, name and kind
// formats, one entity per YAML document) so that a file Mandate accepts is one
// Backstage accepts too, and an error here is an error there.
package catalog
