package ownership_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/ownership/catalog"
)

// fakeBackstage serves one Component owned by group:data through the catalog API.
func fakeBackstage(t *testing.T) *fakeAPI {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/catalog/entities/by-query" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]any{"items": []any{map[string]any{
			"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
			"metadata": map[string]any{"name": "orders-api", "namespace": "default"},
			"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "group:data"},
		}}, "totalItems": 1, "pageInfo": map[string]any{}})
	})
}

func TestBackstageCatalogKeepsLastGoodCopy(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`org: {timezone: UTC, fallback: {team: data}}
people: [{id: carol}]
teams: [{id: data, members: [carol]}]
ownership:
  catalog: {url: "http://backstage.invalid"}
`))
	if err != nil {
		t.Fatal(err)
	}
	bs := fakeBackstage(t)
	r := ownership.NewResolver(ownership.Options{Logger: discardLogger(),
		Clients: ownership.Clients{Backstage: &catalog.Client{BaseURL: bs.URL, HTTP: bs.Client()}}})
	if err := r.SetConfig(context.Background(), cfg, "start"); err != nil {
		t.Fatal(err)
	}
	o, _ := r.Explain("service:orders-api")
	if o.Layer != "catalog" || o.Team != "data" {
		t.Fatalf("from the API: layer %q team %q\n%s", o.Layer, o.Team, strings.Join(o.Explain, "\n"))
	}
	bs.status.Store(503)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o, _ := r.Explain("service:orders-api"); o.Layer != "catalog" {
		t.Errorf("Backstage down: layer %q, want the last good catalog", o.Layer)
	}
	_, health := r.Health()
	if h := health["catalog:http://backstage.invalid"]; h.Error == "" {
		t.Errorf("health %+v, want the Backstage error", health)
	}
}
