package translation

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// messageSources are the packages whose messages reach the console.
var messageSources = []string{"../source", "../configapi", "../syncer"}

// literalMessages finds the message texts the packages write: the format
// of every Problems.add call, the message of every problem(...) answer and
// upstreamError, and every Message member of a composite literal.
func literalMessages(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{} // text → where
	fset := token.NewFileSet()
	for _, dir := range messageSources {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			add := func(e ast.Expr) {
				lit, ok := e.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return
				}
				text, err := strconv.Unquote(lit.Value)
				if err != nil || text == "%s" || text == "" {
					return
				}
				found[text] = fset.Position(lit.Pos()).String()
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					switch fn := n.Fun.(type) {
					case *ast.SelectorExpr:
						if fn.Sel.Name == "add" && len(n.Args) >= 2 {
							add(n.Args[1])
						}
					case *ast.Ident:
						if fn.Name == "problem" && len(n.Args) >= 2 {
							add(n.Args[1])
						}
					}
				case *ast.AssignStmt:
					// A preview's note: p.Note = "…" (alone or in a tuple).
					for i, lhs := range n.Lhs {
						if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "Note" && i < len(n.Rhs) {
							add(n.Rhs[i])
							if call, ok := n.Rhs[i].(*ast.CallExpr); ok && isSprintf(call) {
								add(call.Args[0])
							}
						}
					}
				case *ast.FuncDecl:
					// Functions that say why something is wrong, or
					// describe a kind, return their messages.
					if name := n.Name.Name; strings.HasSuffix(name, "Problem") || name == "Describe" || name == "describeKind" || name == "jsonType" {
						ast.Inspect(n.Body, func(m ast.Node) bool {
							if ret, ok := m.(*ast.ReturnStmt); ok {
								for _, r := range ret.Results {
									add(r)
									if call, ok := r.(*ast.CallExpr); ok && isSprintf(call) {
										add(call.Args[0])
									}
								}
							}
							return true
						})
					}
				case *ast.CompositeLit:
					typeName := ""
					switch ty := n.Type.(type) {
					case *ast.Ident:
						typeName = ty.Name
					case *ast.SelectorExpr:
						typeName = ty.Sel.Name
					}
					for i, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Message" {
								add(kv.Value)
								if call, ok := kv.Value.(*ast.CallExpr); ok && isSprintf(call) {
									add(call.Args[0])
								}
							}
						} else if typeName == "upstreamError" && i == 1 {
							add(el)
						}
					}
				}
				return true
			})
		}
	}
	return found
}

// TestEveryMessageHasItsItalian: every message text the API's packages
// write has an Italian translation, so a new or changed English message
// cannot reach an Italian screen untranslated unnoticed.
func TestEveryMessageHasItsItalian(t *testing.T) {
	found := literalMessages(t)
	if len(found) < 50 {
		t.Fatalf("found only %d messages; the search no longer finds them", len(found))
	}
	var missing []string
	for text, where := range found {
		if !known(text) {
			missing = append(missing, where+": "+strconv.Quote(text))
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("no Italian for %s", m)
	}
}

func isSprintf(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Sprintf" && len(call.Args) > 0
}
