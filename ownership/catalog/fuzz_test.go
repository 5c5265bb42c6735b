package catalog

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func FuzzParseFile(f *testing.F) {
	if data, err := os.ReadFile("testdata/catalog-info.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"---\n---\n",
		header + "kind: Component\nmetadata: {name: x}\nspec: {owner: 'group:'}\n",
		header + "kind: Component\nmetadata:\n  - a\n  b: c\n",
		"a: &x [*x]\n",
		"a: &a [1]\nb: *a\n---\nkind: *b\n",
		"%TAG !a! tag:a,2024:\n--- !a!x\nkind: K\n...\n%YAML 1.1\n---\n",
		"- a\n- b\n---\n\"str\"\n---\n{apiVersion: v, kind: Group, metadata: {name: g}, spec: {members: [a, 'user:']}}\n",
		header + "kind: User\nmetadata: {name: u}\nspec: {profile: {email: [x]}, memberOf: *m}\n",
	} {
		f.Add([]byte(s))
	}
	const name = "fuzz/catalog-info.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		entities, errs := ParseFile(name, data)
		maxLine := bytes.Count(data, []byte("\n")) + 1
		for _, e := range entities {
			if e.Name == "" || e.Kind == "" {
				t.Errorf("entity without name or kind: %+v", e)
			}
			if !strings.HasPrefix(e.Location, name+":") {
				t.Errorf("location %q does not name the file", e.Location)
			}
			if e.Owner != "" && e.OwnerRef == nil {
				t.Errorf("owner %q without OwnerRef", e.Owner)
			}
		}
		for _, err := range errs {
			if !strings.HasPrefix(err.Error(), name+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Line > maxLine {
				t.Errorf("error %q: line outside the file's %d lines", err, maxLine)
			}
		}
	})
}
