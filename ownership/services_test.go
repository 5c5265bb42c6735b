package ownership

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/glob"
)

// naiveMatch is the definition the index must agree with: the first service in file
// order whose name or any pattern matches.
func naiveMatch(cfg *config.Config, r mandate.Resource) int {
	name := r.Name
	if r.Kind == "file" {
		name = r.Repo + ":" + r.Path
	}
	for i, svc := range cfg.Services {
		if svc.Kind == r.Kind && svc.Name == name {
			return i
		}
		for _, p := range svc.Match {
			g := glob.MustCompile(p)
			if strings.Contains(p, ":") && g.Match(r.Key()) || !strings.Contains(p, ":") && svc.Kind == r.Kind && g.Match(name) {
				return i
			}
		}
	}
	return -1
}

func TestServiceIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"payments", "billing", "search", "ledger", "auth", "api", "db", "web"}
	kinds := []string{"service", "table", "bucket", "file"}
	word := func() string { return words[rng.IntN(len(words))] }
	for round := range 200 {
		cfg := &config.Config{}
		for i := range 30 {
			kind := kinds[rng.IntN(len(kinds))]
			svc := config.Service{Name: fmt.Sprintf("%s-%d", word(), i), Kind: kind}
			for range rng.IntN(3) {
				switch rng.IntN(5) {
				case 0:
					svc.Match = append(svc.Match, word()+"-*")
				case 1:
					svc.Match = append(svc.Match, word()+"-"+word())
				case 2:
					svc.Match = append(svc.Match, "*-"+word())
				case 3:
					svc.Match = append(svc.Match, "file:acme/"+word()+":src/**")
				default:
					svc.Match = append(svc.Match, word()+"?"+word()+"*")
				}
			}
			cfg.Services = append(cfg.Services, svc)
		}
		x, err := buildServiceIndex(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			r := mandate.Resource{Kind: kinds[rng.IntN(len(kinds))], Name: word() + "-" + word()}
			if rng.IntN(4) == 0 {
				r.Name = r.Name + "/x"
			}
			if r.Kind == "file" {
				r = mandate.Resource{Kind: "file", Repo: "acme/" + word(), Path: "src/" + word() + ".go", Name: ""}
			}
			want := naiveMatch(cfg, r)
			got, _ := x.match(r, r.Key())
			gotIndex := -1
			if got != nil {
				gotIndex = slicesIndex(cfg, got.svc)
			}
			if gotIndex != want {
				t.Fatalf("round %d: %s matched service %d, want %d", round, r.Key(), gotIndex, want)
			}
		}
	}
}

func slicesIndex(cfg *config.Config, svc *config.Service) int {
	for i := range cfg.Services {
		if &cfg.Services[i] == svc {
			return i
		}
	}
	return -2
}
