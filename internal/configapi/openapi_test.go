package configapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hubsend/hubsend/internal/configapi"
	"github.com/hubsend/hubsend/internal/localaws/samtemplate"
)

// TestOpenAPIDescribesEveryTemplateRoute compares the routes template.yaml
// gives API Gateway, whichever function serves them, with the paths and
// methods of the OpenAPI description, both ways, and checks that a route
// open at the gateway is described as needing no workspace token.
func TestOpenAPIDescribesEveryTemplateRoute(t *testing.T) {
	root, err := samtemplate.Locate(".")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := samtemplate.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := tmpl.Routes()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(configapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{} // "METHOD /path" → public
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Security *[]map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			described[strings.ToUpper(method)+" "+path] = op.Security != nil && len(*op.Security) == 0
		}
	}
	inTemplate := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		inTemplate[key] = true
		public, ok := described[key]
		switch {
		case !ok:
			t.Errorf("template.yaml routes %s (to %s), which the OpenAPI description does not describe", key, r.FunctionID)
		case public != r.Public():
			t.Errorf("%s: public %v in template.yaml, %v in the OpenAPI description", key, r.Public(), public)
		}
	}
	for key := range described {
		if !inTemplate[key] {
			t.Errorf("the OpenAPI description has %s, which template.yaml does not route", key)
		}
	}
}
